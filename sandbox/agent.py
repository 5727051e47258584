"""The runner's agent (agent/, in Go) as the worker sees it: where its binary is, how it is made
present on a docker host, and the requests the worker sends it.

The agent is the one program the runner runs in a kata's containers: a live container's own
root process (`agent serve`), a fresh run container's command (`agent once`) and the admin
steps on a kata's volume (`agent admin ...`). It is static, so it runs on any image. It reaches
each docker host through the engine's API alone, so that a remote engine works too: a volume
of its own per version, `runner-agent-<sha>`, which every kata container mounts read-only at
/runner. ARCHITECTURE.md, "The agent", says what it does as root and what as the avatar's uid.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import secrets
import tarfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from runner.errors import CommandMissing, RunnerError
from sandbox.engine import ContainerSpec, Engine

log = logging.getLogger(__name__)
T = TypeVar("T")

BINARY = Path(__file__).resolve().parents[1] / "agent" / "bin" / "agent"
MOUNT = "/runner"
AGENT = f"{MOUNT}/agent"
TOOLS_LABEL = "org.cyber-dojo.runner.tools"
# The places of a run container that a run can write outside its sandbox (the root is
# read-only): what a run leaves there is removed before a kata's live container serves again.
SCRATCH = ("/tmp", "/dev/shm", "/dev/mqueue")
INSTALL_DEADLINE_S = 60.0


class AgentMissing(RunnerError):
    """The agent is not built on the worker's machine (`make bootstrap` builds it)."""

    code = "internal"
    status = 500


@cache
def binary() -> bytes:
    """The agent's static binary, as built by `make bootstrap`."""
    try:
        return BINARY.read_bytes()
    except OSError as error:
        raise AgentMissing(f"the agent is not built ({error}): run make bootstrap") from error


@cache
def sha() -> str:
    """The version of the agent: the first 12 hex digits of its binary's sha256."""
    return hashlib.sha256(binary()).hexdigest()[:12]


def volume_name() -> str:
    """The volume that holds this version of the agent on every docker host."""
    return f"runner-agent-{sha()}"


def bind() -> dict[str, dict[str, str]]:
    """The agent's volume, as a kata container mounts it: read-only at /runner."""
    return {volume_name(): {"bind": MOUNT, "mode": "ro"}}


_installed: set[tuple[int, str]] = set()
_installing = threading.Lock()


def make_present(engine: Engine, helper_image: str) -> None:
    """Makes this version of the agent present on the engine's host, once per engine object
    of this process: its volume, with the binary put there whole or not at all (the binary
    renames itself into place), so that a container that starts meanwhile never runs a cut
    one. Cheap when it is there already; safe when several workers do it at once."""
    key = (id(engine), volume_name())
    if key in _installed:
        return
    with _installing:
        if key in _installed:
            return
        name = volume_name()
        engine.create_volume(name, {TOOLS_LABEL: "agent"})
        incoming = f".incoming/{secrets.token_hex(6)}"
        spec = ContainerSpec(
            image=helper_image,
            command=[f"{MOUNT}/{incoming}/agent", "install", MOUNT],
            user="root",
            name=f"runner-agent-install-{secrets.token_hex(4)}",
            labels={TOOLS_LABEL: "install"},
            binds={name: {"bind": MOUNT, "mode": "rw"}},
            limits={"network_mode": "none", "cap_drop": ["ALL"], "log_config": {"type": "none"}},
            working_dir="/",
            archives=[(MOUNT, _tar(f"{incoming}/agent", binary()))],
        )
        outcome = engine.run_container(spec, b"", INSTALL_DEADLINE_S, 4096)
        if outcome.exit_code != 0:
            raise RunnerError(
                f"the agent could not be installed in volume {name}: status "
                f"{outcome.exit_code}: {outcome.stderr.decode(errors='replace').strip()}"
            )
        log.info("agent %s is present on the docker host", sha())
        _installed.add(key)


def present(engine: Engine, helper_image: str, call: Callable[[], T]) -> T:
    """The call, with the agent present on the engine's host; once more after the agent is
    made present again when the engine says the agent is not where a container looks for it
    (its volume was removed since, say by an operator, and the engine made an empty one)."""
    make_present(engine, helper_image)
    try:
        return call()
    except CommandMissing as error:
        if not error.path.startswith(MOUNT + "/"):
            raise
        log.warning("the agent is gone from its volume %s: installing it again", volume_name())
        _installed.discard((id(engine), volume_name()))
        make_present(engine, helper_image)
        return call()


def _tar(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder in (name.split("/")[0], name.rsplit("/", 1)[0]):
            info = tarfile.TarInfo(folder)
            info.type = tarfile.DIRTYPE
            info.mode = 0o700
            tar.addfile(info)
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass(frozen=True)
class RunRequest:
    """What the agent needs of one run."""

    uid: int
    gid: int
    sandbox: str
    env: Mapping[str, str]
    max_seconds: float
    out_cap: int  # bytes of stdout (and of stderr) kept, + 1
    file_cap: int  # bytes of a created or changed file sent, + 1
    max_files: int
    deleted: Sequence[str]
    files: Mapping[str, str]
    run_at: str = ""  # written to .runner/run_at (by root) before the run; "" for none
    argv: Sequence[str] = ("sh", "./cyber-dojo.sh")
    fallback: Sequence[str] = ()  # run instead when argv's command is not on the PATH
    home_files: Mapping[str, str] = field(default_factory=dict)  # by absolute path
    drop_binary: bool = False  # created or changed binary files neither returned nor kept


def run(request: RunRequest, nonce: str) -> bytes:
    """The framed request of a run."""
    return frame(
        {
            "op": "run",
            "nonce": nonce,
            "uid": request.uid,
            "gid": request.gid,
            "sandbox": request.sandbox,
            "env": dict(request.env),
            "argv": list(request.argv),
            "max_seconds": request.max_seconds,
            "out_cap": request.out_cap,
            "file_cap": request.file_cap,
            "max_files": request.max_files,
            "deleted": list(request.deleted),
            "files": files(request.files),
            "scratch": list(SCRATCH),
            "run_at": request.run_at,
            "fallback": list(request.fallback),
            "home_files": files(request.home_files),
            "drop_binary": request.drop_binary,
        }
    )


def look(nonce: str) -> bytes:
    """The framed request of a look at the container: may it serve another avatar?"""
    return frame({"op": "look", "nonce": nonce, "scratch": list(SCRATCH)})


def fill(contents: Mapping[str, str]) -> bytes:
    """The framed request of `agent admin fill`: the files a sandbox is set to."""
    return frame({"files": files(contents)})


def files(contents: Mapping[str, str]) -> list[dict[str, str]]:
    """Files as the agent takes them: each name with its bytes in base64."""
    return [
        {"name": name, "data": base64.b64encode(text.encode()).decode()}
        for name, text in contents.items()
    ]


def frame(request: Mapping[str, Any]) -> bytes:
    """A request as the agent reads it: its size in bytes, a newline, then its JSON."""
    body = json.dumps(request, ensure_ascii=False).encode()
    return b"%d\n%s" % (len(body), body)


def nonce() -> str:
    """A nonce that names one answer of the agent's."""
    return secrets.token_hex(8)
