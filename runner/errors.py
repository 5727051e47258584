"""The runner's exceptions: each has the error code of API.md that it becomes."""


class RunnerError(Exception):
    """Base of every error the runner reports to a client."""

    code = "internal"


class KataNotFound(RunnerError):
    """The kata's volume does not exist."""

    code = "kata_not_found"


class AvatarNotFound(RunnerError):
    """The avatar's sandbox does not exist in the kata's volume."""

    code = "avatar_not_found"


class ImageNotFound(RunnerError):
    """The image is not on the docker host."""

    code = "image_not_found"


class DockerUnavailable(RunnerError):
    """The docker engine did not answer."""

    code = "docker_unavailable"


class InvalidRequest(RunnerError):
    """An identifier, filename or value broke the rules of API.md."""

    code = "invalid_request"


class ImageNotAllowed(RunnerError):
    """The image is not on the operator's allow-list."""

    code = "image_not_allowed"
