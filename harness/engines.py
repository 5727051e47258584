"""A second docker engine on this machine, for the tests and the bench of many hosts.

It has a data root, exec root, pidfile, unix socket and containerd namespace of its own, no
bridge and no iptables rules (its containers have no network), and is stopped by its own pid.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from harness.services import Service, wait_for


class DockerEngineProcess(Service):
    """dockerd in a folder of its own; `restart()` starts it again on the same folder."""

    def __init__(self, name: str, log_dir: Path, root: Path | None = None) -> None:
        # A short folder (the system's temporary one): the engine's shims listen on unix sockets
        # under its exec root, and a socket's path is at most 107 bytes.
        self.root = root or Path(tempfile.mkdtemp(prefix=f"{name}-"))
        self.engine_name = name
        self.socket = self.root / "docker.sock"
        self.url = f"unix://{self.socket}"
        argv = [
            "dockerd",
            "--data-root",
            str(self.root / "data"),
            "--exec-root",
            str(self.root / "exec"),
            "--pidfile",
            str(self.root / "dockerd.pid"),
            "--host",
            self.url,
            "--containerd-namespace",
            f"{name}-moby",
            "--containerd-plugins-namespace",
            f"{name}-plugins",
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
        ]
        super().__init__(f"dockerd-{name}", argv, dict(os.environ), log_dir)
        self.log_dir = log_dir
        wait_for(self.answers, 60, f"the docker engine {name} answering")

    def answers(self) -> bool:
        return (
            subprocess.run(
                ["docker", "--host", self.url, "version"], capture_output=True, timeout=10
            ).returncode
            == 0
        )

    def load_images(self, images: list[str], from_url: str = "") -> None:
        """Copies images from another engine (the default one unless given) into this one."""
        missing = [
            i
            for i in images
            if subprocess.run(
                ["docker", "--host", self.url, "image", "inspect", i], capture_output=True
            ).returncode
        ]
        if not missing:
            return
        source = ["docker", *(["--host", from_url] if from_url else []), "save", *missing]
        with subprocess.Popen(source, stdout=subprocess.PIPE) as save:
            subprocess.run(
                ["docker", "--host", self.url, "load", "-q"],
                stdin=save.stdout,
                check=True,
                capture_output=True,
            )
        if save.returncode:
            raise RuntimeError(f"docker save {missing} failed")

    def restart(self) -> DockerEngineProcess:
        self.stop()
        return DockerEngineProcess(self.engine_name, self.log_dir, self.root)

    def remove(self) -> None:
        """Stops the engine and removes its folder."""
        self.stop(timeout_s=30)
        shutil.rmtree(self.root, ignore_errors=True)
