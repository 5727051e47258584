"""What the soak's avatars run: honest runs that prove the order of their files, hostile runs
of many kinds, and the canary that must see what a fresh kata sees."""

from __future__ import annotations

from dataclasses import dataclass, field

SHELL = "cyber-dojo-local/shell:latest"
PYTHON = "cyber-dojo-local/python-pytest:latest"

# Each honest run sends one more file, seq/<n>; the run lists them all on its first line, so
# that its result shows every earlier run's file (and no later one's).
SEQ_DIGITS = 6
LIST_SEQ = "ls seq | tr '\\n' ' '; echo\n"
TEST_HIKER = "from hiker import answer\n\n\ndef test_answer():\n    assert answer() == 42\n"
HIKER = "def answer():\n    return 42\n"
HONEST_FILES = {
    SHELL: {"cyber-dojo.sh": LIST_SEQ},
    PYTHON: {
        "cyber-dojo.sh": LIST_SEQ + "pytest -q\n",
        "test_hiker.py": TEST_HIKER,
        "hiker.py": HIKER,
    },
}

# What a run sees outside its sandbox: processes of any uid but its own ("uid name"), the
# places a run can write outside its sandbox, System V IPC objects (the header lines left
# out), and its own sandbox. A fresh kata's answer is the one every canary must give.
CANARY = """me=$(id -u)
for d in /proc/[0-9]*; do
  while read -r key uid rest; do
    [ "$key" = Uid: ] || continue
    [ "$uid" = "$me" ] || echo "process $uid $(cat "$d/comm" 2>/dev/null)"
    break
  done 2>/dev/null < "$d/status"
done | sort
for d in /tmp /dev/shm /dev/mqueue; do ls -A "$d" 2>/dev/null | sed "s|^|$d/|"; done
for f in /proc/sysvipc/*; do tail -n +2 "$f" | sed "s|^|$f: |"; done
ls -A
echo canary
"""

# A report that claims a clean, green run, forged into the agent's streams (refused: root's).
REPORT = r"'S0\0000\nU5\0000\nK0\0000\nZ1\0000\nO\0005\nE\0000\n.\0000\nFAKE!'"
FORGE = f"printf {REPORT} > /proc/$PPID/fd/1; printf {REPORT} > /proc/$PPID/fd/0"
LEAVE_PROCESS = "setsid sh -c 'exec sleep 600' </dev/null >/dev/null 2>&1 &\n"
LEAVE_FILES = (
    "echo left > /tmp/left; mkdir -p /tmp/d/e; echo x > /tmp/d/e/f; chmod 0 /tmp/d\n"
    "echo left > /dev/shm/left\n"
)
# /tmp (a tmpfs of 64 MiB) full, 15 MiB at a time (the file size limit is 16 MiB).
FILL_TMP = "for i in 1 2 3 4 5; do head -c 15000000 /dev/zero > /tmp/full$i; done 2>/dev/null\n"
# Shared memory, a semaphore set and a message queue, private to the container's IPC namespace
# (libc through ctypes: the image has no sysv_ipc module).
IPC = (
    "python3 -c 'import ctypes; libc = ctypes.CDLL(None); "
    "print(libc.shmget(0, 4096, 0o1600), libc.semget(0, 1, 0o1600), libc.msgget(0, 0o1600))'\n"
)
FILL_DISK = (
    "i=0; while dd if=/dev/zero of=fill$i bs=1M count=15 2>/dev/null; do i=$((i+1)); done\n"
    "df -k . | tail -n 1; rm -f fill*\n"  # the kata's disk is its avatars' own: freed again
)
MANY_FILES = "mkdir m; i=0; while [ $i -lt 2500 ]; do : > m/f$i; i=$((i+1)); done; echo made $i\n"
TRAP = "mkdir -p /tmp/.trap/x && : > /tmp/.trap/x/f && chmod 000 /tmp/.trap\n"
PLANT_LINKS = (
    "ln -s /sandboxes/{honest}/seq steal; ln -s /sandboxes/.runner runner\n"
    "ln -s /etc etc; ln -s / root; echo planted\n"
)


@dataclass(frozen=True)
class Run:
    """One run of a hostile avatar: its changes, its time, and what its own result must show
    (a result key and value; none: any finished result)."""

    changed_files: dict[str, str] = field(default_factory=dict)
    deleted_filenames: tuple[str, ...] = ()
    max_seconds: int = 5
    expect: tuple[str, object] | None = None


@dataclass(frozen=True)
class Hostile:
    """A kind of hostile code: the avatar's cyber-dojo.sh, then its runs."""

    name: str
    script: str
    runs: tuple[Run, ...] = (Run(),)
    images: tuple[str, ...] = (SHELL, PYTHON)


def hostile_kinds(honest: str) -> list[Hostile]:
    """Every kind, the symlinks' pointing at the sandbox of the honest avatar given."""
    through_links = Run(
        changed_files={"steal/999999": "planted", "runner/hello_at": "forged", "etc/x": "x"},
        deleted_filenames=(f"steal/{1:0{SEQ_DIGITS}d}", "runner/hello_at", "etc/passwd"),
    )
    return [
        Hostile("fork_bomb", "bomb() { bomb | bomb & }; bomb; sleep 2\n"),
        Hostile(
            "memory_hog",
            "dd if=/dev/zero of=/dev/null bs=2047M count=1\n",
            (Run(max_seconds=10, expect=("oom_killed", True)),),
        ),
        Hostile(
            "infinite_loop",
            "while :; do :; done\n",
            (Run(max_seconds=2, expect=("timed_out", True)),),
        ),
        Hostile("output_flood", "yes\n", (Run(max_seconds=2, expect=("timed_out", True)),)),
        Hostile("background_process", LEAVE_PROCESS + "echo left\n"),
        Hostile("many_processes", "for i in $(seq 100); do sleep 600 & done; echo left\n"),
        Hostile("tmp_and_shm_files", LEAVE_FILES + FILL_TMP),
        Hostile("sysv_ipc", IPC, images=(PYTHON,)),
        Hostile("kill_everything", "kill -9 -1\n"),
        Hostile("kill_the_agent", "kill -9 $PPID; kill -9 $(pgrep agent) 2>/dev/null\n"),
        Hostile("forged_report", LEAVE_PROCESS + LEAVE_FILES + FORGE + "\n"),
        Hostile("tmp_trap", TRAP),
        Hostile("symlinks_out", PLANT_LINKS.format(honest=honest), (Run(), through_links)),
        Hostile("many_files", MANY_FILES),
        Hostile("full_disk", FILL_DISK, (Run(max_seconds=20),)),
        Hostile("closed_output", "exec >&- 2>&- <&-; sleep 1\n"),
    ]


def seq_name(seq: int) -> str:
    """The file an honest run of this sequence number sends."""
    return f"seq/{seq:0{SEQ_DIGITS}d}"


def listed_seqs(stdout: str) -> list[int] | None:
    """The sequence numbers an honest run listed on its first line; None if it is not a list."""
    words = stdout.split("\n", 1)[0].split()
    if not all(w.isdigit() and len(w) == SEQ_DIGITS for w in words):
        return None
    return [int(w) for w in words]
