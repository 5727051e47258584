"""Logs as one JSON object per line, with the job, kata and avatar on every line about a job.

Entry points call setup_logging; nothing logs differently because a module was imported.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

_JOB: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "runner_job", default=None
)
JOB_FIELDS = ("job_id", "kata_id", "avatar")


@contextlib.contextmanager
def job_context(**fields: str | None) -> Iterator[None]:
    """Every log line inside the block carries these fields (job_id, kata_id, avatar)."""
    token = _JOB.set({k: v for k, v in fields.items() if v})
    try:
        yield
    finally:
        _JOB.reset(token)


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        line.update(_JOB.get() or {})
        for name in JOB_FIELDS:
            value = getattr(record, name, None)
            if value:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def setup_logging(level: str = "INFO") -> None:
    """JSON lines on stderr at `level`, for the whole process."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("urllib3", "docker", "kombu", "amqp"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
