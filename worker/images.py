"""Pulling or updating language images on the docker host.

`python -m worker.images pull NAME` does it by hand; `POST /images/pull` as a job.
"""

from __future__ import annotations

import argparse
import json
import logging

import docker.errors

from runner.errors import ImageNotAllowed, ImageNotFound
from runner.logs import setup_logging
from runner.settings import Settings, normalise_image_name
from worker.docker_host import docker_errors
from worker.host import Host

log = logging.getLogger(__name__)


def pull(host: Host, image_name: str) -> dict[str, str]:
    """Pulls image_name (the newest of its tag) and returns it with the digest now used."""
    reference = normalise_image_name(image_name)
    repository, _, tag = reference.rpartition(":")
    if "@" in reference:
        repository, tag = reference, ""
    with docker_errors():
        try:
            for event in host.client.api.pull(
                repository, tag=tag or None, stream=True, decode=True
            ):
                if "error" in event:  # a registry refusal comes inside a 200 stream
                    raise ImageNotFound(f"{image_name} could not be pulled: {event['error']}")
            image = host.client.api.inspect_image(reference)
        except (docker.errors.NotFound, docker.errors.APIError) as error:
            raise ImageNotFound(f"{image_name} could not be pulled: {error.explanation}") from error
    digests = [d.split("@", 1)[1] for d in image.get("RepoDigests") or [] if "@" in d]
    digest = digests[0] if digests else str(image["Id"])
    log.info("pulled %s: %s", image_name, digest)
    return {"image_name": image_name, "digest": digest}


def prepull(settings: Settings) -> None:
    """Pulls each image of RUNNER_PREPULL, logging (not raising) what fails."""
    host = Host.connect(settings)
    for image_name in (i.strip() for i in settings.prepull.split(",")):
        if not image_name:
            continue
        try:
            if not settings.image_allowed(image_name):
                raise ImageNotAllowed(f"{image_name} is not on the allow-list")
            pull(host, image_name)
        except Exception as error:
            log.warning("prepull of %s failed: %s", image_name, error)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m worker.images", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("pull", help="pull or update an image").add_argument("image_name")
    args = parser.parse_args()
    settings = Settings()
    setup_logging(settings.log_level)
    print(json.dumps(pull(Host.connect(settings), args.image_name)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
