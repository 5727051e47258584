"""Docker API calls of a run job, counted in this process around worker.drain.drain."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from runner.jobs import Jobs
from runner.models import Run
from runner.settings import Settings
from sandbox import attach
from sandbox.docker_engine import DockerEngine
from worker import drain as draining

# Not a request: the worker reading a run's output stream (attach or exec) until it ends,
# between the call that opened it and the next; the run itself happens meanwhile.
READING = "(reading the output stream, or the agent's answer, to its end: the run runs)"


@dataclass(frozen=True)
class Call:
    """One HTTP request to the engine and how long its answer took (headers, for streams),
    or the reading of an output stream (api False)."""

    endpoint: str
    seconds: float
    api: bool = True


@dataclass
class CallLog:
    """Every request a docker client sends, as it is sent."""

    calls: list[Call] = field(default_factory=list)

    def wrap(self, api: Any) -> None:
        """Counts the requests of api (a requests.Session) from now on."""
        send = api.send

        def counted(request: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return send(request, **kwargs)
            finally:
                self.calls.append(
                    Call(endpoint(request.method, request.url), time.perf_counter() - started)
                )

        api.send = counted

    def take(self) -> list[Call]:
        """The calls so far, forgetting them."""
        calls, self.calls = self.calls, []
        return calls


def endpoint(method: str, url: str) -> str:
    """'POST /containers/{id}/start' from a request's method and URL."""
    path = re.sub(r"^/v[0-9.]+", "", urlsplit(url).path)
    path = re.sub(r"^/images/.+/json$", "/images/{name}/json", path)
    path = re.sub(r"^/volumes/[^/]+$", "/volumes/{name}", path)
    path = re.sub(r"^/containers/(?!json$|create$)[^/]+", "/containers/{id}", path)
    path = re.sub(r"^/exec/[^/]+", "/exec/{id}", path)
    return f"{method} {path}"


_draining = threading.local()  # .log: the CallLog of the drain this thread runs, if any
_read_streams = attach.read_streams
_read_answer = attach.read_answer


def _timed(read: Callable[..., Any]) -> Callable[..., Any]:
    """The engine's reading of an attach stream (a run container's output, or the agent's
    answer), timed into the log of the drain running in this thread (none: not timed)."""

    def timed(*args: Any) -> Any:
        started = time.perf_counter()
        try:
            return read(*args)
        finally:
            log: CallLog | None = getattr(_draining, "log", None)
            if log is not None:
                log.calls.append(Call(READING, time.perf_counter() - started, api=False))

    return timed


def time_the_streams() -> None:
    """From now on, this process's engine times each attach stream it reads (in-process
    drains only: the worker processes are not changed)."""
    attach.read_streams = _timed(_read_streams)
    attach.read_answer = _timed(_read_answer)


ATTEMPTS = 3


@dataclass
class InProcess:
    """The worker's drain, run in this process with a counted docker client."""

    settings: Settings
    log: CallLog
    context: draining.Context
    jobs: Jobs

    @classmethod
    def connect(cls, settings: Settings) -> InProcess:
        context = draining.Context.connect(settings, lambda _kata_id: None, "bench-in-process")
        log = CallLog()
        assert isinstance(context.host.engine, DockerEngine)
        log.wrap(context.host.engine.api)
        time_the_streams()
        jobs = Jobs.connect(settings)
        return cls(settings, log, context, jobs)

    def drain_one(
        self,
        kata_id: str,
        avatar: str,
        image: str,
        files: Mapping[str, str] | None = None,
        deleted: Sequence[str] = (),
    ) -> tuple[float, list[Call], str]:
        """Queues one run (no Celery message) and drains it here: seconds, docker calls, and
        the error the drain raised after the job ended ('' when none)."""
        request = Run(
            image_name=image,
            changed_files=dict(files or {}),
            deleted_filenames=list(deleted),
            max_seconds=10,
        )
        for _ in range(ATTEMPTS):
            self._wait_for_free_lease(kata_id)
            job_id = self.jobs.submit("run", kata_id, avatar, request).job_id
            self.log.take()
            started = time.perf_counter()
            ran, error = 0, ""
            _draining.log = self.log
            try:
                ran = draining.drain(self.context, kata_id)
            except Exception as raised:  # reported with the figures, once the job is seen done
                ran, error = 1, f"{type(raised).__name__}: {raised}"
            finally:
                _draining.log = None
            elapsed = time.perf_counter() - started
            calls = self.log.take()
            if ran == 0:
                # The sweep woke the kata first and the worker took the job: not our sample.
                self.jobs.wait(job_id, 30)
                continue
            job = self.jobs.get(job_id)
            if job is None or job["state"] != "done":
                raise RuntimeError(f"the in-process drain of {kata_id} failed: {error or job}")
            return elapsed, calls, error
        raise RuntimeError(f"the worker took the in-process drain's job {ATTEMPTS} times")

    def _wait_for_free_lease(self, kata_id: str) -> None:
        """Waits while a worker holds the kata: it lets go just after the job it ran ended."""
        give_up = time.monotonic() + 30
        while self.context.mailbox.holder(kata_id) is not None:
            if time.monotonic() > give_up:
                raise RuntimeError(f"kata {kata_id} stayed leased for 30 s")
            time.sleep(0.002)


def per_run(runs: Sequence[Sequence[Call]]) -> list[tuple[str, float, float]]:
    """Endpoint, calls per run and mean milliseconds per call, in first-call order."""
    counts: Counter[str] = Counter()
    seconds: dict[str, float] = defaultdict(float)
    for calls in runs:
        for call in calls:
            counts[call.endpoint] += 1
            seconds[call.endpoint] += call.seconds
    return [
        (name, counts[name] / len(runs), 1000 * seconds[name] / counts[name]) for name in counts
    ]
