"""Who decides that a kata's live container may serve again: its watcher, a root process the
learner cannot touch, never the run's report. Each attack ends with the container removed, or
cleaned, and the next avatar's run seeing nothing of the attacker. And a container removed or
stopped by anyone else is replaced, never a broken kata."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.host import Host
from sandbox.images import Images
from sandbox.kata_containers import KataContainers
from tests.conftest import PYTHON, SHELL, new_kata_id, sdk
from tests.sandbox.conftest import Ops
from tests.sandbox.test_kata_container import live_container

# A whole report that says the run was clean, written into the run script's own stdout.
FORGE = (
    r"printf 'S0\0000\nU5\0000\nK0\0000\nZ1\0000\nO\0005\nE\0000\n.\0000\nFAKE!'"
    " > /proc/$PPID/fd/1"
)
# Every other process of the run's uid (the run script, its timer, its drainers) killed.
KILL_THE_SCRIPT = "kill -9 -1"
STAY = "setsid sh -c 'exec sleep 600' </dev/null >/dev/null 2>&1 &"
LEAVE_FILES = "echo secret > /tmp/left; echo secret > /dev/shm/left"
# A System V shared memory segment (IPC_CREAT | 0600): it outlives every process.
LEAVE_IPC = "python3 -c 'import ctypes; assert ctypes.CDLL(None).shmget(0x5eed, 4096, 0o1600) >= 0'"
TRAP = (
    "mkdir -p /run/runner/work/.trap/x && : > /run/runner/work/.trap/x/f && "
    "chmod 000 /run/runner/work/.trap"
)
# What another avatar sees of others: processes of any uid but root's and its own, anything
# in the writable places but its own bookkeeping, System V IPC objects.
LOOK = """
me=$(id -u)
for s in /proc/[0-9]*/status; do
  while read -r k v _; do
    [ "$k" = Uid: ] || continue
    [ "$v" = 0 ] || [ "$v" = "$me" ] || echo "process of uid $v"
    break
  done < "$s" 2>/dev/null
done
for d in /tmp /dev/shm /dev/mqueue; do ls -A "$d"; done
ls -A /run/runner | grep -vx work
for f in /proc/sysvipc/shm /proc/sysvipc/msg /proc/sysvipc/sem; do
  n=0; while read -r _; do n=$((n + 1)); done < "$f"; [ "$n" -le 1 ] || echo "ipc $f"
done
echo looked
"""


@pytest.fixture(params=[SHELL, PYTHON], ids=["shell", "python"])
def live(request: pytest.FixtureRequest, host: Host, images: Images) -> Iterator[tuple[Ops, str]]:
    """The sandbox operations in kata mode, and a kata with lion and tiger, on an image."""
    ops = Ops(host, images, KataContainers(host))
    kata_id = new_kata_id()
    ops.new_kata(kata_id, request.param)
    for avatar in ("lion", "tiger"):
        ops.new_avatar(kata_id, avatar, request.param, {})
    ops.image = request.param  # type: ignore[attr-defined]
    yield ops, kata_id
    ops.old_kata(kata_id)


def run(ops: Ops, kata_id: str, script: str, avatar: str = "lion") -> dict[str, object]:
    image: str = ops.image  # type: ignore[attr-defined]
    return dict(ops.run(kata_id, avatar, image, {"cyber-dojo.sh": script}, max_seconds=5))


def assert_tiger_sees_nothing_of_lion(ops: Ops, kata_id: str) -> None:
    seen = run(ops, kata_id, LOOK, avatar="tiger")
    assert seen["stdout"] == {"content": "looked\n", "truncated": False}
    assert (seen["status"], seen["faulty_reason"]) == (0, None)


def test_a_forged_clean_report_from_a_killed_script_removes_the_container(
    live: tuple[Ops, str],
) -> None:
    ops, kata = live
    run(ops, kata, "true")
    before = live_container(ops, kata)
    forged = run(ops, kata, f"{FORGE}\n{KILL_THE_SCRIPT}\n{STAY}\nexit 0")
    assert forged["stdout"] == {"content": "FAKE!", "truncated": False}  # its own result
    assert live_container(ops, kata) in (None,)  # the watcher saw the process left behind
    assert_tiger_sees_nothing_of_lion(ops, kata)
    assert live_container(ops, kata) not in (None, before)


@pytest.mark.parametrize("leave", [LEAVE_FILES, LEAVE_IPC], ids=["files", "ipc"])
def test_files_and_ipc_left_behind_a_forged_report_remove_the_container(
    live: tuple[Ops, str], leave: str
) -> None:
    ops, kata = live
    if leave == LEAVE_IPC and ops.image == SHELL:  # type: ignore[attr-defined]
        pytest.skip("the shell image has no tool that makes an IPC object")
    run(ops, kata, f"{leave}\n{FORGE}\n{KILL_THE_SCRIPT}\nexit 0")
    assert live_container(ops, kata) is None
    assert_tiger_sees_nothing_of_lion(ops, kata)


def test_a_report_forged_without_killing_the_script_cannot_keep_an_ipc_object(
    live: tuple[Ops, str],
) -> None:
    ops, kata = live
    if ops.image == SHELL:  # type: ignore[attr-defined]
        pytest.skip("the shell image has no tool that makes an IPC object")
    # The run script lives on, cleans what it can and finds the object, but the report the
    # worker reads first is the forged one, which says clean.
    run(ops, kata, f"{LEAVE_IPC}\n{FORGE}\nexit 0")
    assert live_container(ops, kata) is None
    assert_tiger_sees_nothing_of_lion(ops, kata)


def test_a_run_that_kills_its_own_script_without_forging_removes_the_container(
    live: tuple[Ops, str],
) -> None:
    ops, kata = live
    run(ops, kata, f"{STAY}\n{KILL_THE_SCRIPT}\nexit 0")
    assert live_container(ops, kata) is None
    assert_tiger_sees_nothing_of_lion(ops, kata)


def test_a_trap_in_the_bookkeeping_does_not_break_the_next_run(live: tuple[Ops, str]) -> None:
    ops, kata = live
    run(ops, kata, TRAP)
    for avatar in ("tiger", "lion"):
        after = run(ops, kata, "echo next", avatar=avatar)
        assert after["stdout"] == {"content": "next\n", "truncated": False}
        assert (after["status"], after["faulty_reason"]) == (0, None)
    assert_tiger_sees_nothing_of_lion(ops, kata)


def test_a_container_removed_by_another_process_is_replaced(live: tuple[Ops, str]) -> None:
    ops, kata = live
    run(ops, kata, "true")
    first = live_container(ops, kata)
    assert first is not None
    # Another worker process of the host (its idle sweep, or its abnormal run) removes it.
    KataContainers(ops.host).remove(kata, "idle")
    after = run(ops, kata, "echo again")
    assert after["stdout"] == {"content": "again\n", "truncated": False}
    assert live_container(ops, kata) not in (None, first)


def test_a_stopped_container_is_replaced(live: tuple[Ops, str]) -> None:
    ops, kata = live
    run(ops, kata, "true")
    first = live_container(ops, kata)
    assert first is not None
    sdk(ops.host).api.kill(first)  # as a restart of the engine leaves it: stopped
    after = run(ops, kata, "echo again")
    assert after["stdout"] == {"content": "again\n", "truncated": False}
    assert live_container(ops, kata) not in (None, first)
