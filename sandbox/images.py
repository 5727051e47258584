"""Language images on the docker host: the id each name stands for and its colour rules,
remembered; pulling or updating them.

`python -m sandbox.images pull NAME` pulls by hand; `POST /images/pull` does it as a job.
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from runner.errors import ImageNotAllowed
from runner.logs import setup_logging
from runner.settings import Settings, normalise_image_name
from sandbox.engine import Engine, Image
from sandbox.host import ROLE_LABEL, Host
from sandbox.ruby_judge import JudgedLambda, RubyJudge
from traffic_lights.errors import BadRules
from traffic_lights.lambdas import LAMBDA_KEY_PREFIX, lambda_key, rules_for_lambda
from traffic_lights.rules import COLOUR_RULES_LABEL, ColourRules, parse_rules

log = logging.getLogger(__name__)

# How long the id an image name stands for is trusted before it is looked up again. A pull
# through the API is seen at once (the workers count pulls in Redis); an image re-tagged on
# the host by hand is run within this many seconds.
IMAGE_RECHECK_S = 10.0
# Where an older cyber-dojo image keeps its traffic-light lambda, and the most of it read.
RAG_LAMBDA_FILE = "/usr/local/bin/red_amber_green.rb"
RAG_LAMBDA_BYTES = 64 * 1024
# cyber-dojo's images are augmented with this user (cyber-dojo-tools/image_dockerfile_augmenter):
# a cyber-dojo run runs as it, with its home, when the image has it.
SANDBOX_USER = ("sandbox", 41966, 51966, "/home/sandbox")
PASSWD_BYTES = 256 * 1024


@dataclass
class Images:
    """The images of one engine as the runs use them: ids by name, colour rules by id."""

    engine: Engine
    overrides: dict[str, object] = field(default_factory=dict)  # the operator's rules by name
    # The labels and name prefix of the containers that read an image's lambda file.
    reader_labels: dict[str, str] = field(default_factory=dict)
    reader_prefix: str = "runner"
    judge: RubyJudge | None = None  # judges the lambdas the translator cannot translate
    _rules: dict[tuple[str, str], ColourRules | None] = field(default_factory=dict)
    _files: dict[tuple[str, str], str | None] = field(default_factory=dict)  # (id, path): text
    _ids: dict[str, tuple[str, float]] = field(default_factory=dict)  # name: id, when
    _pulls_seen: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(cls, host: Host) -> Images:
        """The images of the host's engine, with the operator's rule overrides."""
        overrides: dict[str, object] = {}
        if host.settings.colour_rules_file:
            document = json.loads(Path(host.settings.colour_rules_file).read_text())
            overrides = {
                k if k.startswith(LAMBDA_KEY_PREFIX) else normalise_image_name(k): v
                for k, v in document.items()
            }
        reader_labels = {**host.ours(), ROLE_LABEL: "image_file"}
        return cls(
            host.engine, overrides, reader_labels, host.settings.instance, RubyJudge.of(host)
        )

    def colour_rules(self, image_name: str) -> ColourRules | None:
        """The image's colour rules (the operator's override first), None when unusable.

        Raises ImageNotFound when the image is not on the host. Rules are parsed once per
        image name and id: a re-tagged image gets its new rules.
        """
        return self._look_up(image_name)[1]

    def lambda_rules(self, lambda_text: str) -> ColourRules | JudgedLambda | str:
        """The colour rules of a cyber-dojo lambda (the operator's, under the lambda's
        sha256, first; else its translation, made once per text); else the lambda as the
        host's Ruby judge judges it (sandbox/ruby_judge.py); else the reason there are none:
        its runs are then `faulty`."""
        document = self.overrides.get(lambda_key(lambda_text))
        if document is None:
            rules = rules_for_lambda(lambda_text)
            if isinstance(rules, str) and self.judge is not None:
                return self.judge.lambda_judged(lambda_text)
            return rules
        try:
            return parse_rules(document)
        except BadRules as error:
            reason = f"the operator's rules for {lambda_key(lambda_text)} are unusable: {error}"
            log.warning("%s", reason)
            return reason

    def cyber_dojo_rules(
        self, image_name: str, image_id: str, rag_lambda: str | None
    ) -> ColourRules | JudgedLambda | str:
        """The colour rules of a cyber-dojo run, or the reason there are none: the operator's
        for the image name, else the run's rag_lambda, else the image's label, else its
        red_amber_green.rb (read once per image id, never run by the runner's own
        processes), a lambda as `lambda_rules` takes it."""
        if rag_lambda is not None and normalise_image_name(image_name) not in self.overrides:
            return self.lambda_rules(rag_lambda)
        rules = self.rules_of(image_name, image_id)
        if rules is not None:
            return rules
        text = self._lambda_file(image_id)
        if text is None:
            return f"the image has no colour rules and no {RAG_LAMBDA_FILE}"
        return self.lambda_rules(text)

    def _lambda_file(self, image_id: str) -> str | None:
        return self._file(image_id, RAG_LAMBDA_FILE, RAG_LAMBDA_BYTES)

    def has_sandbox_user(self, image_id: str) -> bool:
        """Whether the image has cyber-dojo's sandbox user (41966:51966, home /home/sandbox),
        as the augmenter adds it: read from its /etc/passwd once per image id."""
        passwd = self._file(image_id, "/etc/passwd", PASSWD_BYTES) or ""
        name, uid, gid, home = SANDBOX_USER
        wanted = [name, "x", str(uid), str(gid)]
        return any(
            line.split(":")[:4] == wanted and line.split(":")[5:6] == [home]
            for line in passwd.splitlines()
        )

    def _file(self, image_id: str, path: str, limit_bytes: int) -> str | None:
        """A text file of an image (None when it has none), read once per image id."""
        key = (image_id, path)
        with self._lock:
            if key in self._files:
                return self._files[key]
        name = f"{self.reader_prefix}-image-file-{secrets.token_hex(6)}"
        found = self.engine.image_file(image_id, path, name, self.reader_labels, limit_bytes)
        text = None if found is None else found.decode(errors="replace")
        log.info("image %s: %s %s", image_id[:19], path, "read" if text else "absent")
        with self._lock:
            return self._files.setdefault(key, text)

    def image_id(self, image_name: str) -> str:
        """The id of the image the name stands for, looked up at most every IMAGE_RECHECK_S.

        A run's container is made from this id, so its colour rules are always those of the
        image it ran. Raises ImageNotFound when the host has no such image.
        """
        with self._lock:
            known = self._ids.get(normalise_image_name(image_name))
        if known is not None and time.monotonic() - known[1] < IMAGE_RECHECK_S:
            return known[0]
        return self._look_up(image_name)[0]

    def pulled(self, count: int) -> None:
        """Looks every image name up again when the count of pulls done has changed."""
        with self._lock:
            if count != self._pulls_seen:
                self._pulls_seen = count
                self._ids.clear()

    def forget(self, image_name: str) -> None:
        """Looks the name up again at its next use (its image went, or was re-tagged)."""
        with self._lock:
            self._ids.pop(normalise_image_name(image_name), None)

    def rules_of(
        self, image_name: str, image_id: str, image: Image | None = None
    ) -> ColourRules | None:
        """The colour rules of the image a container ran: read from the engine only the
        first time this name and id are seen."""
        key = (normalise_image_name(image_name), image_id)
        with self._lock:
            if key in self._rules:
                return self._rules[key]
        rules = self._parse_rules(image_name, image or self.engine.image(image_id))
        with self._lock:
            return self._rules.setdefault(key, rules)

    def _look_up(self, image_name: str) -> tuple[str, ColourRules | None]:
        """Asks the engine for the image: its id (remembered) and its colour rules."""
        image = self.engine.image(image_name)
        with self._lock:
            self._ids[normalise_image_name(image_name)] = (image.id, time.monotonic())
        return image.id, self.rules_of(image_name, image.id, image)

    def _parse_rules(self, image_name: str, image: Image) -> ColourRules | None:
        document = self.overrides.get(normalise_image_name(image_name))
        if document is None:
            document = image.labels.get(COLOUR_RULES_LABEL)
        if document is None:
            log.warning("image %s has no colour rules (label %s)", image_name, COLOUR_RULES_LABEL)
            return None
        try:
            return parse_rules(document)
        except BadRules as error:
            log.warning("image %s has unusable colour rules: %s", image_name, error)
            return None


def pull(engine: Engine, image_name: str) -> dict[str, str]:
    """Pulls image_name (the newest of its tag) and returns it with the digest now used."""
    reference = normalise_image_name(image_name)
    repository, _, tag = reference.rpartition(":")
    if "@" in reference:
        repository, tag = reference, ""
    engine.pull(repository, tag)
    found = digest(engine, image_name)
    log.info("pulled %s: %s", image_name, found["digest"])
    return found


def digest(engine: Engine, image_name: str) -> dict[str, str]:
    """The image with the digest (else the id) it stands for on the host; ImageNotFound
    when it is not there."""
    image = engine.image(normalise_image_name(image_name))
    digests = [d.split("@", 1)[1] for d in image.repo_digests if "@" in d]
    return {"image_name": image_name, "digest": digests[0] if digests else image.id}


def prepull(settings: Settings) -> None:
    """Pulls each image of RUNNER_PREPULL, logging (not raising) what fails."""
    engine = Host.connect(settings).engine
    for image_name in (i.strip() for i in settings.prepull.split(",")):
        if not image_name:
            continue
        try:
            if not settings.image_allowed(image_name):
                raise ImageNotAllowed(f"{image_name} is not on the allow-list")
            pull(engine, image_name)
        except Exception as error:
            log.warning("prepull of %s failed: %s", image_name, error)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.images", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("pull", help="pull or update an image").add_argument("image_name")
    args = parser.parse_args()
    settings = Settings()
    setup_logging(settings.log_level)
    print(json.dumps(pull(Host.connect(settings).engine, args.image_name)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
