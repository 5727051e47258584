"""Hostile code against the real engine: each case is contained and the next run works."""

from __future__ import annotations

import contextlib
import hashlib
import os
import resource
import threading
import time
from pathlib import Path

import pytest

from harness.services import wait_for
from runner.identifiers import AVATARS, FIRST_AVATAR_UID
from sandbox import agent
from sandbox.host import KATA_LABEL, ROLE_LABEL, Host
from tests.conftest import PYTHON, sdk
from tests.sandbox.conftest import Runner, assert_still_works, kata_containers, run_containers

KiB = 1024


def test_quiet_infinite_loop_times_out_and_leaves_no_container(
    run_sh: Runner, host: Host, kata: str
) -> None:
    run_sh("true")  # the avatar is made: only the run is timed
    started = time.monotonic()
    # The agent's own timer ends it, well before the container's deadline (which also allows
    # for the agent's own work).
    result = run_sh("while :; do :; done", max_seconds=2)
    elapsed = time.monotonic() - started
    assert result["timed_out"] is True
    assert result["colour"] == "timed_out"
    assert result["status"] == 137
    assert elapsed < 2 + 2, f"answered after {elapsed:.1f} s"
    assert kata_containers(host, kata) == []
    assert_still_works(run_sh)


# Kills every `sleep` it can see (the agent's timer is none of them: it is the agent's own).
KILL_THE_TIMER = """
for p in /proc/[0-9]*; do
  { read -r stat < "$p/stat"; } 2>/dev/null || continue
  case $stat in *"(sleep)"*) kill -9 "${p#/proc/}" ;; esac
done
"""


def test_a_timer_that_died_early_is_no_time_out(run_sh: Runner) -> None:
    # A sleep the learner kills is no timer of the runner's: the time did not run out.
    result = run_sh(KILL_THE_TIMER + "sleep 0.3; echo done", max_seconds=10)
    assert result["stdout"] == {"content": "done\n", "truncated": False}
    assert (result["timed_out"], result["status"], result["colour"]) == (False, 0, "green")


def test_loud_infinite_loop_keeps_exactly_50_KiB_and_costs_no_memory_or_disk(
    run_sh: Runner, host: Host, kata: str
) -> None:
    seen: list[tuple[str, str, int]] = []  # log driver, log path, writable layer's bytes
    label = f"{KATA_LABEL}={kata}"
    api = sdk(host).api  # the container's log config and writable layer: not the runner's view

    def running_run_containers() -> list[tuple[str, str, int]]:
        """What the kata's run containers running now log to, and their writable layer's size."""
        found = []
        for listed in api.containers(filters={"label": label}, size=True):
            with contextlib.suppress(Exception):  # it ended since it was listed
                container = api.inspect_container(listed["Id"])
                if container["Config"]["Labels"].get(ROLE_LABEL) in ("run", "live"):
                    log_type = container["HostConfig"]["LogConfig"]["Type"]
                    found.append((log_type, container["LogPath"], listed.get("SizeRw", 0)))
        return found

    def inspect_the_running_container() -> None:
        # From the moment the run container runs until it is gone, so that the last looks come
        # late in the flood (the avatar's short containers are not it).
        # Few and small looks: this process is the worker whose growth is measured.
        wait_for(lambda: bool(running_run_containers()), 20, "the run container running")
        while found := running_run_containers():
            seen.extend(found)
            time.sleep(0.1)

    before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    looking = threading.Thread(target=inspect_the_running_container)
    looking.start()
    result = run_sh("yes", max_seconds=3)
    looking.join()
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kib

    assert result["timed_out"] is True
    assert result["stdout"]["truncated"] is True
    assert len(result["stdout"]["content"].encode()) == 50 * KiB
    assert result["stdout"]["content"].startswith("y\ny\n")
    assert grown_kib < 16 * 1024, f"the worker grew by {grown_kib} KiB"
    assert seen, "the run container was not seen while it ran"
    for log_type, log_path, size_rw in seen:
        assert log_type == "none"
        assert not log_path
        assert size_rw < 1024 * KiB
    assert_still_works(run_sh)


def processes_of_uid(uid: int) -> list[str]:
    """The host's processes running as uid."""
    found = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        if any(
            line.split()[1:2] == [str(uid)]
            for line in status.splitlines()
            if line.startswith("Uid:")
        ):
            found.append(pid)
    return found


def test_fork_bomb_is_contained_and_next_run_works(run_sh: Runner) -> None:
    # An avatar no other test uses: its uid is the same in every kata on the host.
    avatar = "kingfisher"
    result = run_sh("bomb() { bomb | bomb & }; bomb; sleep 3", avatar=avatar, max_seconds=5)
    # The run ended on its own, before its deadline: the bomb neither held it open nor took
    # the agent's kill. Whether a "can't fork" reaches stderr depends on which process meets
    # the pids limit first, so the message is not asserted.
    assert result["timed_out"] is False, result
    uid = FIRST_AVATAR_UID + AVATARS.index(avatar)
    assert processes_of_uid(uid) == [], "the bomb outlived its run on the host"
    assert_still_works(run_sh, avatar=avatar)


def test_memory_hog_is_oom_killed_with_status_137(run_sh: Runner) -> None:
    result = run_sh("dd if=/dev/zero of=/dev/null bs=2047M count=1", max_seconds=10)
    assert result["oom_killed"] is True
    assert result["status"] == 137
    assert_still_works(run_sh)


def test_file_size_bomb_fails_at_the_size_limit(run_sh: Runner, host: Host) -> None:
    result = run_sh("dd if=/dev/zero of=big bs=1M count=100")
    assert result["status"] != 0
    size = run_sh("wc -c < big")
    assert int(size["stdout"]["content"]) == host.settings.fsize_bytes
    assert_still_works(run_sh)


def test_no_network_but_loopback(run_sh: Runner) -> None:
    result = run_sh(
        "cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' '\n"
        "nc -w 1 192.0.2.1 80 </dev/null && echo reached-192.0.2.1\n"
        "nc -w 1 127.0.0.1 4597 </dev/null && echo reached-loopback\n"
        "exit 0\n"
    )
    assert result["stdout"]["content"] == "lo\n"
    # nc ran, and could not connect: no route leads out, and 127.0.0.1 is the container's own
    # loopback, where nothing of the host (the API on 4597) listens.
    assert result["stderr"]["content"].splitlines() == [
        "nc: can't connect to remote host (192.0.2.1): Network is unreachable",
        "nc: can't connect to remote host (127.0.0.1): Connection refused",
    ]
    assert_still_works(run_sh)


def test_cannot_write_outside_its_sandbox_nor_read_another(run_sh: Runner) -> None:
    run_sh("echo tiger secret > secret.txt", avatar="tiger")
    result = run_sh(
        "id -u\n"
        "for target in /x /etc/x /sandboxes/x /sandboxes/.runner/x /sandboxes/tiger/x \\\n"
        "    /runner/x /runner/agent; do\n"
        "  echo hi > $target 2>/dev/null && echo wrote $target\n"
        "done\n"
        "rm -f /runner/agent 2>/dev/null\n"
        "cat /sandboxes/tiger/secret.txt 2>/dev/null && echo read tiger\n"
        "ls /sandboxes/tiger 2>/dev/null && echo listed tiger\n"
        "rm -rf /sandboxes/tiger 2>/dev/null\n"
        "md5sum < /runner/agent\n"
        "exit 0\n"
    )
    lines = result["stdout"]["content"].splitlines()
    agent_md5 = hashlib.md5(agent.binary()).hexdigest()
    assert lines == [str(FIRST_AVATAR_UID + AVATARS.index("lion")), f"{agent_md5}  -"]
    tiger = run_sh("cat secret.txt", avatar="tiger")
    assert tiger["stdout"]["content"] == "tiger secret\n"
    assert_still_works(run_sh)


def test_planted_symlinks_never_lead_the_runner_out_of_the_sandbox(run_sh: Runner) -> None:
    run_sh("echo lion secret > secret.txt")
    planted = run_sh(
        "ln -s /sandboxes/lion/secret.txt steal.txt\n"
        "ln -s /sandboxes/lion lion\n"
        "ln -s /sandboxes/.runner runner\n"
        "ln -s /etc/passwd passwd\n"
        "ln -s /etc etc\n",
        avatar="tiger",
    )
    assert planted["created"] == {}
    hello = run_sh("cat /sandboxes/.runner/hello_at")["stdout"]["content"]

    result = run_sh(
        "ls -A | sort",
        avatar="tiger",
        changed={
            "steal.txt": "overwritten",
            "lion/planted.txt": "planted",
            "runner/hello_at": "forged",
            "passwd": "root::0:0::/:/bin/sh",
            "etc/planted": "planted",
        },
        deleted=["lion/secret.txt", "runner/run_at", "etc/passwd"],
    )
    everything = repr(result)
    assert "lion secret" not in everything and "root:x:0:0" not in everything
    assert result["created"] == {} and result["deleted"] == []

    lion = run_sh("cat secret.txt; ls -A")
    assert lion["stdout"]["content"] == "lion secret\ncyber-dojo.sh\nsecret.txt\n"
    assert run_sh("cat /sandboxes/.runner/hello_at")["stdout"]["content"] == hello
    assert "root:x:0:0" in run_sh("cat /etc/passwd")["stdout"]["content"]
    assert_still_works(run_sh, avatar="tiger")


def test_a_background_process_does_not_outlive_the_run(
    run_sh: Runner, host: Host, kata: str
) -> None:
    started = time.monotonic()
    # An avatar no other test uses: its uid is the same in every kata on the host.
    avatar = "puffin"
    result = run_sh("sleep 1000 &\necho started", avatar=avatar, max_seconds=5)
    assert time.monotonic() - started < 5
    assert result["stdout"]["content"] == "started\n"
    assert result["timed_out"] is False
    assert run_containers(host, kata) == []
    assert processes_of_uid(FIRST_AVATAR_UID + AVATARS.index(avatar)) == []
    assert_still_works(run_sh, avatar=avatar)


@pytest.mark.parametrize(
    ("script", "stdout", "status", "colour"),
    [
        # The kernel spares a namespace's init a SIGKILL from inside it: the run goes on.
        ("kill -9 1; echo alive", "alive\n", 0, "green"),
        # Its parent is the agent, root: not the learner's to signal (kill fails, status 1).
        ("kill -9 $PPID", "", 1, "red"),
        # The agent reports cyber-dojo.sh killed by signal 9, judged by the image's rules.
        ("kill -9 $$", "", 137, "amber"),
        # Every process of its uid but its own shell (kill(-1) spares the caller): the agent
        # and its helper are not the uid's, so the run goes on.
        ("kill -9 -1", "", 0, "green"),
    ],
    ids=["init", "the-agent", "its-own-shell", "everything"],
)
def test_killing_init_or_its_shells_is_reported_and_nothing_hangs(
    run_sh: Runner, script: str, stdout: str, status: int, colour: str
) -> None:
    result = run_sh(script, max_seconds=5)
    assert result["timed_out"] is False
    assert (result["stdout"]["content"], result["status"], result["colour"]) == (
        stdout,
        status,
        colour,
    )
    assert_still_works(run_sh)


ODD_NAMES = [
    "quote's.txt",
    'double"quote.txt',
    "with space.txt",
    "amp&ersand.txt",
    "$(id).txt",
    "`id`.txt",
    "-leading-dash.txt",
    "back\\slash.txt",
    "ünïcödé-名前.txt",
    "stdout",
    "new\nline.txt",
    "nested/deeper/still/file.txt",
    "a" * 200 + "/" + "b" * 255,
]


def test_odd_filenames_round_trip_in_out_and_deleted(run_sh: Runner) -> None:
    files = {f"in/{name}": f"content of {name}\n" for name in ODD_NAMES}
    copied = run_sh("cp -R in out", changed=files)
    assert copied["created"] == {
        f"out/{name}": {"content": f"content of {name}\n", "truncated": False} for name in ODD_NAMES
    }
    removed = run_sh("rm -rf in")
    assert removed["deleted"] == sorted(files)
    cleaned = run_sh("find . -type f | wc -l", deleted=[f"out/{name}" for name in ODD_NAMES])
    assert cleaned["stdout"]["content"].strip() == "1"  # cyber-dojo.sh alone


def test_invalid_utf8_becomes_replacement_and_streams_never_mix(run_sh: Runner) -> None:
    result = run_sh(
        "printf 'bad \\377\\376 bytes\\n'\n"
        "i=0; while [ $i -lt 200 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done\n"
    )
    out = result["stdout"]["content"].splitlines()
    err = result["stderr"]["content"].splitlines()
    assert out[0] == "bad \ufffd\ufffd bytes"
    assert out[1:] == [f"out{i}" for i in range(200)]
    assert err == [f"err{i}" for i in range(200)]


def test_the_environment_holds_none_of_the_runners_settings(
    run_sh: Runner, monkeypatch: pytest.MonkeyPatch, kata: str
) -> None:
    monkeypatch.setenv("RUNNER_REDIS_URL", "redis://127.0.0.1:6399/0")
    monkeypatch.setenv("RUNNER_API_TOKEN", "do-not-leak-me")
    result = run_sh("env")
    env = dict(
        line.split("=", 1) for line in result["stdout"]["content"].splitlines() if "=" in line
    )
    assert "do-not-leak-me" not in result["stdout"]["content"]
    assert not [name for name in env if name.startswith("RUNNER_")]
    assert env["CYBER_DOJO_KATA_ID"] == kata
    assert env["CYBER_DOJO_AVATAR_NAME"] == "lion"
    assert env["CYBER_DOJO_SANDBOX"] == env["HOME"] == "/sandboxes/lion"


def test_python_image_gives_red_amber_green(run_sh: Runner) -> None:
    script = "pytest -q test_hiker.py\n"
    hiker = "def answer():\n    return 6 * 9\n"
    test = "from hiker import answer\n\ndef test_answer():\n    assert answer() == 42\n"
    red = run_sh(script, image=PYTHON, changed={"hiker.py": hiker, "test_hiker.py": test})
    amber = run_sh(script, image=PYTHON, changed={"hiker.py": "def answer(:\n"})
    green = run_sh(script, image=PYTHON, changed={"hiker.py": "def answer():\n    return 42\n"})
    assert (red["colour"], amber["colour"], green["colour"]) == ("red", "amber", "green"), (
        red["stdout"],
        amber["stdout"],
        green["stdout"],
    )
    assert red["created"] == {} and green["created"] == {}


def fill(folder: str) -> str:
    """Shell that fills a tmpfs of 64 MiB, a file of 16 MB at a time (the file size limit)."""
    return f"for i in 1 2 3 4 5; do head -c 16000000 /dev/zero > {folder}/f$i; done 2>/dev/null\n"


def test_a_full_tmp_and_dev_shm_leave_the_runs_own_bookkeeping_whole(run_sh: Runner) -> None:
    result = run_sh(
        fill("/tmp") + fill("/dev/shm") + "df /tmp /dev/shm | grep -c 100%\n"
        "echo made > made.txt; echo err >&2; exit 1"
    )
    assert (result["colour"], result["status"]) == ("red", 1)
    assert (result["stdout"]["content"], result["stderr"]["content"]) == ("2\n", "err\n")
    assert result["created"] == {"made.txt": {"content": "made\n", "truncated": False}}
    assert result["faulty_reason"] is None
    assert_still_works(run_sh)


# A report written into the stdout of the run's parent, the agent, ahead of its real one
# (ARCHITECTURE.md, "The agent"): the agent is root, so the learner's uid cannot open it.
FORGE = r"printf 'S0\0%s\nO\0%s\n.\0%s\nforged' 0 6 0 > /proc/$PPID/fd/1"


def test_a_forged_report_changes_nothing(run_sh: Runner) -> None:
    forged = run_sh(FORGE + "; echo real > real.txt; exit 1")
    assert (forged["colour"], forged["status"], forged["stdout"]["content"]) == ("red", 1, "")
    assert "Permission denied" in forged["stderr"]["content"]
    assert forged["created"] == {"real.txt": {"content": "real\n", "truncated": False}}
    assert_still_works(run_sh, avatar="tiger")
