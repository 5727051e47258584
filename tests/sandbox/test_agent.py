"""The agent, a kata container's own root process, against a learner who kills, ptraces or
writes everything its uid can reach: it cannot forge a report, stop the agent or its helper,
or leave anything behind for the next avatar. What a run leaves outside its sandbox is killed
or emptied, and the container serves again; what cannot be emptied removes it. And a
container removed or stopped by anyone else is replaced, never a broken kata."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox import agent
from sandbox.host import Host
from sandbox.images import Images
from sandbox.kata_containers import KataContainers
from tests.conftest import PYTHON, SHELL, new_kata_id, sdk
from tests.sandbox.conftest import Ops, Runner
from tests.sandbox.test_kata_container import live_container

# A whole report that says the run was clean, written into the agent's stdout and stdin.
REPORT = r"'S0\0000\nU5\0000\nK0\0000\nZ1\0000\nO\0005\nE\0000\n.\0000\nFAKE!'"
FORGE = f"printf {REPORT} > /proc/$PPID/fd/1; printf {REPORT} > /proc/$PPID/fd/0"
# Every other process of the run's uid killed (kill(-1) spares only the caller and init).
KILL_EVERYTHING = "kill -9 -1"
# Every process it can name but its own shell: the agent and its helper are not the uid's.
KILL_EACH = "for p in /proc/[0-9]*; do [ ${p#/proc/} = $$ ] || kill -9 ${p#/proc/}; done"
STAY = "setsid sh -c 'exec sleep 600' </dev/null >/dev/null 2>&1 &"
LEAVE_FILES = "echo secret > /tmp/left; echo secret > /dev/shm/left"
# A System V shared memory segment (IPC_CREAT | 0600): it outlives every process.
LEAVE_IPC = "python3 -c 'import ctypes; assert ctypes.CDLL(None).shmget(0x5eed, 4096, 0o1600) >= 0'"
# A folder its owner cannot enter, in a place the agent empties.
TRAP = "mkdir -p /tmp/.trap/x && : > /tmp/.trap/x/f && chmod 000 /tmp/.trap"
# PTRACE_ATTACH (16) of every process of another uid: each refused.
PTRACE = """python3 -c '
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
for pid in sorted(int(p) for p in os.listdir("/proc") if p.isdigit()):
    if os.stat(f"/proc/{pid}").st_uid != os.getuid() and libc.ptrace(16, pid, 0, 0) == 0:
        print("attached", pid)
print("tried")'"""
# What another avatar sees of others: processes of any uid but root's and its own, anything
# in the writable places, System V IPC objects.
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


def test_a_report_forged_into_the_agents_streams_reaches_nobody(live: tuple[Ops, str]) -> None:
    ops, kata = live
    run(ops, kata, "true")
    before = live_container(ops, kata)
    forged = run(ops, kata, f"{FORGE}\necho real\nexit 1")
    assert (forged["stdout"], forged["status"]) == ({"content": "real\n", "truncated": False}, 1)
    assert forged["stderr"]["content"].count("Permission denied") == 2  # type: ignore[index]
    assert live_container(ops, kata) == before
    assert_tiger_sees_nothing_of_lion(ops, kata)


@pytest.mark.parametrize("kill", [KILL_EVERYTHING, KILL_EACH], ids=["kill-1", "each"])
def test_killing_everything_it_can_stops_neither_the_agent_nor_its_kill(
    live: tuple[Ops, str], kill: str
) -> None:
    ops, kata = live
    run(ops, kata, "true")
    before = live_container(ops, kata)
    killed = run(ops, kata, f"{STAY}\n{LEAVE_FILES}\necho made > made.txt\n{kill}\nexit 3")
    assert killed["status"] == 3
    assert killed["created"] == {"made.txt": {"content": "made\n", "truncated": False}}
    assert killed["faulty_reason"] is None
    # What it left (a process, files) is killed and emptied: the container serves again.
    assert live_container(ops, kata) == before
    assert_tiger_sees_nothing_of_lion(ops, kata)


def test_the_agent_and_its_helper_cannot_be_ptraced(live: tuple[Ops, str]) -> None:
    ops, kata = live
    if ops.image == SHELL:  # type: ignore[attr-defined]
        pytest.skip("the shell image has no tool that calls ptrace")
    traced = run(ops, kata, f"sleep 30 &\n{PTRACE}")
    assert traced["stdout"] == {"content": "tried\n", "truncated": False}
    assert_tiger_sees_nothing_of_lion(ops, kata)


def test_an_ipc_object_left_behind_removes_the_container(live: tuple[Ops, str]) -> None:
    ops, kata = live
    if ops.image == SHELL:  # type: ignore[attr-defined]
        pytest.skip("the shell image has no tool that makes an IPC object")
    run(ops, kata, "true")
    before = live_container(ops, kata)
    left = run(ops, kata, f"{LEAVE_IPC}\n{FORGE}\nexit 0")
    assert left["status"] == 0 and left["faulty_reason"] is None
    assert live_container(ops, kata) is None
    assert_tiger_sees_nothing_of_lion(ops, kata)
    assert live_container(ops, kata) not in (None, before)


def test_a_trap_in_tmp_does_not_break_the_next_run(live: tuple[Ops, str]) -> None:
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


def test_an_agent_volume_removed_under_the_runner_is_made_again(
    run_sh: Runner, host: Host, kata: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A volume of its own for this test, so that no other test's container holds it in use.
    name = f"runner-agent-test-{kata.lower()}"
    monkeypatch.setattr(agent, "volume_name", lambda: name)
    try:
        assert run_sh("echo first")["stdout"]["content"] == "first\n"
        KataContainers(host).remove(kata, "idle")  # the kata mode's container uses it
        sdk(host).api.remove_volume(name)  # as an operator's prune would
        assert run_sh("echo again")["stdout"]["content"] == "again\n"
    finally:
        KataContainers(host).remove(kata, "idle")
        sdk(host).api.remove_volume(name)
