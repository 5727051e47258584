"""One docker host as the operations see it: the client, the settings, what is cached."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors

from runner.settings import Settings, normalise_image_name
from worker.colour import COLOUR_RULES_LABEL, BadRules, ColourRules, parse_rules
from worker.docker_host import connect, docker_errors

log = logging.getLogger(__name__)

RUNNER_LABEL = "org.cyber-dojo.runner"  # its value is the runner's instance name
# How long the id an image name stands for is trusted before it is looked up again. A pull
# through the API is seen at once (the workers count pulls in Redis); an image re-tagged on
# the host by hand is run within this many seconds.
IMAGE_RECHECK_S = 10.0


@dataclass
class Host:
    """The docker client and settings the operations use, and colour rules by image id."""

    settings: Settings
    client: docker.DockerClient
    _rules: dict[tuple[str, str], ColourRules | None] = field(default_factory=dict)
    _overrides: dict[str, object] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _run_at_written: dict[str, float] = field(default_factory=dict)
    _image_ids: dict[str, tuple[str, float]] = field(default_factory=dict)  # name: id, when
    _pulls_seen: int = 0
    # When set (the worker's pipeline sets it to a Redis gate), says for the whole service
    # whether a kata's run time is due to be written into its volume.
    run_at_gate: Callable[[str], bool] | None = None

    @classmethod
    def connect(cls, settings: Settings) -> Host:
        """A Host for the engine the settings name, with the operator's rule overrides."""
        host = cls(settings, connect(settings))
        if settings.colour_rules_file:
            overrides = json.loads(Path(settings.colour_rules_file).read_text())
            host._overrides = {normalise_image_name(k): v for k, v in overrides.items()}
        return host

    def labels(self, kata_id: str, role: str, **more: str) -> dict[str, str]:
        """The labels of a volume or container of this runner instance."""
        labels = {RUNNER_LABEL: self.settings.instance, f"{RUNNER_LABEL}.kata_id": kata_id}
        labels[f"{RUNNER_LABEL}.role"] = role
        labels.update({f"{RUNNER_LABEL}.{key}": value for key, value in more.items()})
        return labels

    def volume_name(self, kata_id: str) -> str:
        """The name of a kata's volume."""
        return f"{self.settings.instance}-kata-{kata_id}"

    def run_at_due(self, kata_id: str) -> bool:
        """Whether this run should write its time into the kata's volume.

        Writing it costs a docker archive call (a third of a short run), so it is written at
        most every run_at_every_s per kata: by the whole service when a gate is set, else by
        this process. The exact time goes to Redis at every run.
        """
        if self.run_at_gate is not None:
            return self.run_at_gate(kata_id)
        every = self.settings.run_at_every_s
        now = time.monotonic()
        with self._lock:
            last = self._run_at_written.get(kata_id)
            if every > 0 and last is not None and now - last < every:
                return False
            self._run_at_written[kata_id] = now
            return True

    def colour_rules(self, image_name: str) -> ColourRules | None:
        """The image's colour rules (the operator's override first), None when unusable.

        Raises ImageNotFound when the image is not on the host. Rules are parsed once per
        image name and id: a re-tagged image gets its new rules.
        """
        return self._look_up(image_name)[1]

    def _look_up(self, image_name: str) -> tuple[str, ColourRules | None]:
        """Asks the engine for the image: its id (remembered) and its colour rules."""
        with docker_errors():
            image = self.client.api.inspect_image(image_name)
        image_id = str(image["Id"])
        with self._lock:
            self._image_ids[normalise_image_name(image_name)] = (image_id, time.monotonic())
        return image_id, self.rules_of(image_name, image_id, image)

    def image_id(self, image_name: str) -> str:
        """The id of the image the name stands for, looked up at most every IMAGE_RECHECK_S.

        A run's container is made from this id, so its colour rules are always those of the
        image it ran. Raises ImageNotFound when the host has no such image.
        """
        with self._lock:
            known = self._image_ids.get(normalise_image_name(image_name))
        if known is not None and time.monotonic() - known[1] < IMAGE_RECHECK_S:
            return known[0]
        return self._look_up(image_name)[0]

    def images_pulled(self, count: int) -> None:
        """Looks every image name up again when the count of pulls done has changed."""
        with self._lock:
            if count != self._pulls_seen:
                self._pulls_seen = count
                self._image_ids.clear()

    def forget_image(self, image_name: str) -> None:
        """Looks the name up again at its next use (its image went, or was re-tagged)."""
        with self._lock:
            self._image_ids.pop(normalise_image_name(image_name), None)

    def rules_of(
        self, image_name: str, image_id: str, image: dict[str, object] | None = None
    ) -> ColourRules | None:
        """The colour rules of the image a container ran: read from the engine only the
        first time this name and id are seen."""
        key = (normalise_image_name(image_name), image_id)
        with self._lock:
            if key in self._rules:
                return self._rules[key]
        if image is None:
            with docker_errors():
                image = self.client.api.inspect_image(image_id)
        rules = self._parse_rules(image_name, image)
        with self._lock:
            return self._rules.setdefault(key, rules)

    def _parse_rules(self, image_name: str, image: dict[str, object]) -> ColourRules | None:
        document = self._overrides.get(normalise_image_name(image_name))
        if document is None:
            config = image.get("Config") or {}
            labels = (config.get("Labels") if isinstance(config, dict) else None) or {}
            document = labels.get(COLOUR_RULES_LABEL)
        if document is None:
            log.warning("image %s has no colour rules (label %s)", image_name, COLOUR_RULES_LABEL)
            return None
        try:
            return parse_rules(document)
        except BadRules as error:
            log.warning("image %s has unusable colour rules: %s", image_name, error)
            return None
