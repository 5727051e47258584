"""The raw floor: the docker SDK alone doing one container's life, as a run would need it."""

from __future__ import annotations

import io
import secrets
import tarfile
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.calls import CallLog
from runner.identifiers import SANDBOX_GID, avatar_uid
from runner.settings import Settings
from sandbox.host import RUNNER_LABEL
from sandbox.limits import run_limits


class RawFailed(Exception):
    """A raw container did not exit 0."""


@dataclass
class RawFloor:
    """Containers of the runner's image, limits, uid and kata volume, with no runner around."""

    client: Any  # a plain docker SDK client
    settings: Settings
    image: str
    log: CallLog = field(default_factory=CallLog)

    def __post_init__(self) -> None:
        self.log.wrap(self.client.api)

    def lifecycle(
        self,
        kata_id: str,
        avatar: str,
        files: bytes = b"",
        out_folder: str = "",
        image: str = "",
        statuses: Collection[int] = (0,),
    ) -> float:
        """Seconds to create, (fill), start, wait for, read, (empty) and remove one container.

        files is a tar put into the sandbox before the start; out_folder (in the sandbox) is
        read back with get_archive after the container ended. image: the floor's own when
        empty; statuses: the exit statuses expected (a red test run exits 1).
        """
        api = self.client.api
        sandbox = f"/sandboxes/{avatar}"
        volume = f"{self.settings.instance}-kata-{kata_id}"
        # The runner's limits but the log driver: `none` cannot be read back with logs.
        limits = {**run_limits(self.settings), "log_config": {"type": "json-file"}}
        started = time.perf_counter()
        container_id = api.create_container(
            image or self.image,
            ["sh", "./cyber-dojo.sh"],
            user=f"{avatar_uid(avatar)}:{SANDBOX_GID}",
            name=f"{self.settings.instance}-raw-{secrets.token_hex(6)}",
            labels={RUNNER_LABEL: self.settings.instance, f"{RUNNER_LABEL}.role": "bench-raw"},
            working_dir=sandbox,
            volumes=["/sandboxes"],
            host_config=api.create_host_config(
                binds={volume: {"bind": "/sandboxes", "mode": "rw"}}, **limits
            ),
        )["Id"]
        try:
            if files:
                api.put_archive(container_id, sandbox, files)
            api.start(container_id)
            status = int(api.wait(container_id, timeout=60)["StatusCode"])
            output = api.logs(container_id, stdout=True, stderr=True)
            if out_folder:
                stream, _ = api.get_archive(container_id, f"{sandbox}/{out_folder}")
                b"".join(stream)
        finally:
            api.remove_container(container_id, force=True)
        if status not in statuses:
            raise RawFailed(f"raw container exited {status}: {output[:300]!r}")
        return time.perf_counter() - started


def sandbox_tar(files: Mapping[str, str], avatar: str) -> bytes:
    """A tar of text files owned by the avatar, as the runner leaves its files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, content in files.items():
            data = content.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            info.uid, info.gid = avatar_uid(avatar), SANDBOX_GID
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
