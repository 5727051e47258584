"""One docker host as the operations see it: its engine, and the names and labels of what
the runner makes there."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from runner.settings import Settings
from sandbox.docker_engine import DockerEngine
from sandbox.engine import Container, Engine

log = logging.getLogger(__name__)

RUNNER_LABEL = "org.cyber-dojo.runner"  # its value is the runner's instance name
KATA_LABEL = f"{RUNNER_LABEL}.kata_id"
ROLE_LABEL = f"{RUNNER_LABEL}.role"
FENCE_LABEL = f"{RUNNER_LABEL}.fence"
JOB_LABEL = f"{RUNNER_LABEL}.job_id"


@dataclass
class Host:
    """The engine the operations use, and how this runner instance names its objects there."""

    settings: Settings
    engine: Engine

    @classmethod
    def connect(cls, settings: Settings) -> Host:
        """A Host on the engine the settings name."""
        engine = DockerEngine.connect(settings.docker_host, settings.docker_timeout_s)
        return cls(settings, engine)

    def ours(self) -> dict[str, str]:
        """The label every volume and container of this runner instance carries."""
        return {RUNNER_LABEL: self.settings.instance}

    def labels(self, kata_id: str, role: str, **more: str) -> dict[str, str]:
        """The labels of a volume or container of this runner instance."""
        labels = {**self.ours(), KATA_LABEL: kata_id, ROLE_LABEL: role}
        labels.update({f"{RUNNER_LABEL}.{key}": value for key, value in more.items()})
        return labels

    def volume_name(self, kata_id: str) -> str:
        """The name of a kata's volume."""
        return f"{self.settings.instance}-kata-{kata_id}"

    def kata_containers(self, kata_id: str, *, mounting: bool = False) -> list[Container]:
        """The containers this runner made for the kata, running or not; with `mounting`,
        also any other container that mounts its volume (the reaper's reader, say)."""
        found = self.engine.containers({**self.ours(), KATA_LABEL: kata_id})
        if mounting:
            found += self.engine.containers({}, volume=self.volume_name(kata_id))
        return list({c.id: c for c in found}.values())

    def remove_kata_containers(self, kata_id: str) -> int:
        """Force-removes every container that mounts or serves the kata; returns how many."""
        found = self.kata_containers(kata_id, mounting=True)
        for container in found:
            self.engine.remove_container(container.id)
        return len(found)

    def remove_unmade_volume(self, name: str) -> bool:
        """True when the volume is not one the runner made: missing, or made by the engine
        for a container that mounted a name no longer there (it has no runner label), which
        is then removed."""
        volume = self.engine.volume(name)
        if volume is None:
            return True
        if volume.labels.get(RUNNER_LABEL):
            return False
        log.info("removing volume %s: the engine made it for a container", name)
        self.engine.remove_volume(name)
        return True
