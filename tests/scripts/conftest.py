"""Fixtures that run the scripts under busybox sh and dash against a temporary folder: no docker.

Busybox runs with a PATH of its own applets only, as in the shell image (busybox 1.35); dash
runs with the machine's GNU tools, as in the Debian python image. Outside a container the
scripts cannot do all they do in one, so what needs root, other uids or a container's /proc is
left to the docker tier (tests/sandbox): run.sh is rendered with a /proc of its own holding
only the uptime, so it never sweeps (SIGKILLs) this machine's processes.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox import scripts
from sandbox.report import Frames, parse_frames, run_request

INTERPRETERS = ("busybox", "dash")


@dataclass(frozen=True)
class Shell:
    """A POSIX sh to run the scripts with, and the PATH of the tools they use."""

    name: str
    argv: tuple[str, ...]
    path: str


@pytest.fixture(scope="session")
def busybox_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of every busybox applet, as the shell image's /bin."""
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("no busybox (the busybox-static package provides it)")
    folder = tmp_path_factory.mktemp("busybox-bin")
    listing = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True)
    for applet in listing.stdout.split():
        (folder / applet).symlink_to(busybox)
    return folder


@pytest.fixture(params=INTERPRETERS)
def shell(request: pytest.FixtureRequest) -> Shell:
    """Each interpreter in turn; skipped when the machine lacks it."""
    if request.param == "busybox":
        folder = request.getfixturevalue("busybox_bin")
        return Shell("busybox", (str(folder / "sh"),), str(folder))
    dash = shutil.which("dash")
    if dash is None:
        pytest.skip("no dash")
    return Shell("dash", (dash,), "/usr/local/bin:/usr/bin:/bin")


@dataclass(frozen=True)
class Ran:
    """How a script ended: its exit code, its stdout and its stderr."""

    code: int
    stdout: bytes
    stderr: bytes

    @property
    def frames(self) -> Frames:
        """The stdout parsed as the run script's report."""
        return parse_frames(self.stdout)


def run_shell(
    shell: Shell,
    argv: Sequence[str],
    stdin: bytes,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 30,
) -> Ran:
    """Runs `sh -c ...` in a session of its own, then kills what it left behind (the run
    script's timer, which a container's end would kill)."""
    # Files, not pipes: the timer keeps the run script's stdout open after the script ends.
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            [*shell.argv, "-c", *argv],
            stdin=subprocess.PIPE,
            stdout=stdout,
            stderr=stderr,
            cwd=cwd,
            env={"PATH": shell.path, **(env or {})},
            start_new_session=True,
        )
        try:
            process.communicate(stdin, timeout=timeout_s)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        stdout.seek(0)
        stderr.seek(0)
        return Ran(process.returncode, stdout.read(), stderr.read())


@dataclass
class RunFolder:
    """A temporary /sandboxes with the avatar lion's sandbox, and the run script's paths."""

    shell: Shell
    root: Path
    runs: int = 0

    @property
    def sandboxes(self) -> Path:
        return self.root / "sandboxes"

    @property
    def sandbox(self) -> Path:
        return self.sandboxes / "lion"

    @property
    def cgroup(self) -> Path:
        return self.root / "cgroup"

    @property
    def next_tmp(self) -> Path:
        """The /tmp of the next run."""
        return self.root / f"tmp{self.runs + 1}"

    def write(self, files: Mapping[str, str | bytes]) -> None:
        """Puts files into the sandbox, as an earlier run left them."""
        for name, content in files.items():
            path = self.sandbox / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content.encode() if isinstance(content, str) else content)

    def files(self) -> dict[str, bytes]:
        """The sandbox's regular files (not through a symlink), by name."""
        return {
            str(path.relative_to(self.sandbox)): path.read_bytes()
            for path in sorted(self.sandbox.rglob("*"))
            if path.is_file() and not path.is_symlink()
        }

    def run(
        self,
        cyber_dojo_sh: str | None,
        changed: Mapping[str, str] | None = None,
        deleted: Sequence[str] = (),
        *,
        max_seconds: int = 10,
        output_bytes: int = 50 * 1024,
        file_bytes: int = 50 * 1024,
        max_files: int = 2000,
        stdin: bytes | None = None,
        script_path: Path | None = None,
    ) -> Ran:
        """One run as the worker makes it: the launcher, the run script (in a fresh /tmp, as
        each run container has), the request's mode, arguments and stdin."""
        tmp = self.next_tmp
        self.runs += 1
        tmp.mkdir(exist_ok=True)
        proc = tmp / "proc"
        proc.mkdir()
        (proc / "uptime").symlink_to("/proc/uptime")
        scratch = tmp / "scratch"
        scratch.mkdir(exist_ok=True)
        script = scripts.run_script(
            work=str(tmp / ".runner"), proc=str(proc), cgroup=str(self.cgroup), scratch=str(scratch)
        )
        # The sweep kills every process it finds, and the clean-up empties the scratch places:
        # neither may ever see this machine's.
        assert f" PROC={shlex.quote(str(proc))} " in script
        assert f" SCRATCH={shlex.quote(str(scratch))}" in script
        if script_path is None:
            script_path = tmp / "run.sh"
            script_path.write_text(script)
        files = dict(changed or {})
        if cyber_dojo_sh is not None:
            files["cyber-dojo.sh"] = cyber_dojo_sh
        request = run_request(files, deleted)
        argv = [
            scripts.LAUNCHER,
            "run",
            str(script_path),
            str(max_seconds),
            str(output_bytes + 1),
            str(file_bytes + 1),
            str(max_files),
            request.mode,
            *request.deleted,
        ]
        env = {"CYBER_DOJO_SANDBOX": str(self.sandbox), "HOME": str(self.sandbox)}
        return run_shell(
            self.shell, argv, request.stdin if stdin is None else stdin, self.sandboxes, env
        )


@pytest.fixture
def folder(shell: Shell, tmp_path: Path) -> RunFolder:
    """A run folder with lion's empty sandbox and a cgroup v2 memory.events of no OOM kill."""
    made = RunFolder(shell, tmp_path)
    made.sandbox.mkdir(parents=True, mode=0o700)
    made.cgroup.mkdir()
    (made.cgroup / "memory.events").write_text("low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n")
    return made


@dataclass
class AdminFolder:
    """A temporary volume (its /sandboxes) and the admin script's staging folder."""

    shell: Shell
    root: Path
    steps: int = 0

    @property
    def sandboxes(self) -> Path:
        return self.root / "sandboxes"

    @property
    def runner(self) -> Path:
        return self.sandboxes / ".runner"

    def step(self, *args: str, stdin: bytes = b"") -> Ran:
        """One step of admin.sh, as the worker runs it, in a fresh /tmp."""
        self.steps += 1
        tmp = self.root / f"tmp{self.steps}"
        tmp.mkdir()
        script = scripts.admin_script(sandboxes=str(self.sandboxes), staging=str(tmp / "in"))
        return run_shell(self.shell, [script, "admin", *args], stdin, self.root)


@pytest.fixture
def volume(shell: Shell, tmp_path: Path) -> AdminFolder:
    """An empty volume, as the engine makes one."""
    made = AdminFolder(shell, tmp_path)
    made.sandboxes.mkdir()
    return made
