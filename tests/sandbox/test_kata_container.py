"""A kata's live container: reused after a clean run, replaced after anything else, and no run
sees what an earlier one (of any avatar) left outside its sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runner.identifiers import AVATARS, FIRST_AVATAR_UID
from sandbox.host import Host
from sandbox.images import Images
from sandbox.kata_containers import LIVE_ROLE, KataContainers
from tests.conftest import SHELL, new_kata_id
from tests.sandbox.conftest import Ops
from tests.sandbox.test_hostile import processes_of_uid

HOG = "dd if=/dev/zero of=/dev/null bs=2047M count=1"  # more memory than a run may have


@pytest.fixture
def live(host: Host, images: Images) -> Iterator[tuple[Ops, str]]:
    """The sandbox operations in kata mode, and a kata with two avatars."""
    ops = Ops(host, images, KataContainers(host))
    kata_id = new_kata_id()
    ops.new_kata(kata_id, SHELL)
    for avatar in ("lion", "tiger"):
        ops.new_avatar(kata_id, avatar, SHELL, {})
    yield ops, kata_id
    ops.old_kata(kata_id)


def live_container(ops: Ops, kata_id: str) -> str | None:
    found = [
        c.id
        for c in ops.host.kata_containers(kata_id)
        if c.labels.get("org.cyber-dojo.runner.role") == LIVE_ROLE
    ]
    assert len(found) <= 1, found
    return found[0] if found else None


def run(ops: Ops, kata_id: str, script: str, avatar: str = "lion") -> dict[str, object]:
    return dict(ops.run(kata_id, avatar, SHELL, {"cyber-dojo.sh": script}, max_seconds=5))


def test_clean_runs_reuse_the_container_and_an_abnormal_one_replaces_it(
    live: tuple[Ops, str],
) -> None:
    ops, kata = live
    run(ops, kata, "true")
    first = live_container(ops, kata)
    assert first is not None
    run(ops, kata, "echo again", avatar="tiger")
    assert live_container(ops, kata) == first
    timed_out = run(ops, kata, "while :; do :; done")
    assert timed_out["timed_out"] is True
    assert live_container(ops, kata) is None  # removed with what the run left running
    after = run(ops, kata, "echo fresh")
    assert after["stdout"] == {"content": "fresh\n", "truncated": False}
    assert live_container(ops, kata) not in (None, first)


@pytest.mark.parametrize(
    "leave",
    [
        "echo secret > /tmp/left; mkdir -p /tmp/d/e; echo x > /tmp/d/e/f; chmod 0 /tmp/d",
        "echo secret > /dev/shm/left",
        "head -c 70000000 /dev/zero > /tmp/full; echo filled",  # /tmp to its size limit
        "echo secret > /run/runner/left",
    ],
    ids=["tmp", "dev-shm", "tmp-full", "bookkeeping-tmpfs"],
)
def test_nothing_a_run_wrote_outside_its_sandbox_is_seen_by_a_later_run(
    live: tuple[Ops, str], leave: str
) -> None:
    ops, kata = live
    run(ops, kata, leave)
    used = live_container(ops, kata)
    look = (
        "for d in /tmp /dev/shm /run/runner; do ls -A $d; done | grep -vx work\n"
        "cat /tmp/left /dev/shm/left /run/runner/left 2>/dev/null; true"
    )
    seen = run(ops, kata, look, avatar="tiger")  # another avatar, in the same container
    assert seen["stdout"] == {"content": "", "truncated": False}
    assert used is not None and live_container(ops, kata) == used  # cleaned, not replaced


@pytest.mark.parametrize(
    "escape",
    [
        "sleep 1000 &",
        "setsid sleep 1000 &",
        "(sleep 1000 &) &",
        "sh -c 'trap \"\" TERM HUP; exec sleep 1000' &",
    ],
    ids=["background", "setsid", "double-fork", "ignores-term"],
)
def test_no_process_of_a_run_outlives_it_in_the_live_container(
    live: tuple[Ops, str], escape: str
) -> None:
    ops, kata = live
    avatar = "walrus"  # no other test uses it: its uid is the same in every kata on the host
    ops.new_avatar(kata, avatar, SHELL, {})
    result = run(ops, kata, f"{escape}\necho started", avatar=avatar)
    assert result["stdout"] == {"content": "started\n", "truncated": False}
    assert processes_of_uid(FIRST_AVATAR_UID + AVATARS.index(avatar)) == []
    assert live_container(ops, kata) is not None  # the run was clean: the container serves on


def test_memory_and_limits_are_per_run(live: tuple[Ops, str]) -> None:
    ops, kata = live
    hog = run(ops, kata, HOG)
    assert (hog["oom_killed"], hog["status"]) == (True, 137)
    after = run(ops, kata, "echo fine")
    assert (after["oom_killed"], after["status"]) == (False, 0)
    limits = "ulimit -f; ulimit -n; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || true"
    first = run(ops, kata, limits)["stdout"]
    for _ in range(9):
        run(ops, kata, "true", avatar="tiger")
    assert run(ops, kata, limits)["stdout"] == first  # the tenth run as the first


@pytest.mark.parametrize("kill", ["kill -9 -1", "kill -9 1", "kill -9 $PPID"])
def test_a_run_that_kills_what_it_can_does_not_break_the_next(
    live: tuple[Ops, str], kill: str
) -> None:
    ops, kata = live
    run(ops, kata, kill)
    after = run(ops, kata, "echo next", avatar="tiger")
    assert after["stdout"] == {"content": "next\n", "truncated": False}
    assert after["colour"] == "green"
