"""Job records and per-kata queues in Redis, as the API and the workers both see them.

Keys (all under `runner:`):
  job:{id}              hash: the job record (API.md's job), its request payload until it ends
  job:{id}:done         list: one element once the job ended; waiters rotate it (BLMOVE)
  kata:{kata}:queue     list: queued job ids, FIFO
  kata:{kata}:inflight  list: the job id the lease holder is running
  kata:{kata}:lease     string: the drain lease's token, with a TTL
  kata:{kata}:fence     counter: incremented at each lease, labels the kata's containers
  kata:{kata}:woken     string, with a TTL: a drain message was sent for the kata and no drain
                        has started since; while it is set, a submission sends no other
  kata:{kata}           hash: hello_at, run_at
  katas:active          set: katas with queued or in-flight jobs (the sweep's worklist)
  katas:seen            sorted set: katas by their latest hello or run time (the reaper's index)
  jobs:queued           counter: jobs queued over all katas
  images:pulled         counter: image pulls done; a worker that sees it change looks every
                        image name up again
The Lua scripts build a job's key from its id; the runner uses a single Redis, not a cluster.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from runner.errors import RunnerError
from runner.settings import Settings

P = "runner:"
ACTIVE = P + "katas:active"
QUEUED = P + "jobs:queued"
SEEN = P + "katas:seen"
IMAGES_PULLED = P + "images:pulled"
MAX_WAIT_S = 30  # the longest ?wait= of GET /jobs/{id}
# How long a sent drain message stands for the submissions after it: past this, a submission
# sends another, in case the first was lost (the sweep also re-wakes a kata left waiting).
WOKEN_TTL_MS = 60_000
# Jobs that belong to no kata (image pulls) queue here, one at a time: not a legal kata id.
IMAGES_QUEUE = "_images"


class KataBusy(RunnerError):
    """The kata already has the most queued jobs allowed."""

    code = "kata_busy"


class Unavailable(RunnerError):
    """Redis does not answer, or the runner holds the most queued jobs allowed."""

    code = "unavailable"


def job_key(job_id: str) -> str:
    return f"{P}job:{job_id}"


def done_key(job_id: str) -> str:
    return f"{P}job:{job_id}:done"


def kata_key(kata_id: str, part: str = "") -> str:
    return f"{P}kata:{kata_id}" + (f":{part}" if part else "")


def woken_key(kata_id: str) -> str:
    return kata_key(kata_id, "woken")


def now_iso(now: datetime | None = None) -> str:
    """An ISO-8601 UTC time with a Z, as API.md writes times."""
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def epoch(iso: str) -> float:
    """Seconds since the epoch of a time written by now_iso."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def new_job_id() -> str:
    return "j_" + secrets.token_urlsafe(12)


_SUBMIT = """
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 'kata_busy' end
if tonumber(redis.call('GET', KEYS[4]) or '0') >= tonumber(ARGV[4]) then return 'full' end
redis.call('HSET', KEYS[2], unpack(ARGV, 7))
redis.call('EXPIRE', KEYS[2], ARGV[5])
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('INCR', KEYS[4])
if redis.call('SET', KEYS[5], '1', 'NX', 'PX', ARGV[6]) then return 'wake' end
return 'ok'
"""


@dataclass(frozen=True)
class Submitted:
    """A job the API accepted."""

    job_id: str
    kind: str
    kata_id: str
    # Whether the submitter sends the kata a drain message: not while one sent earlier has
    # not started yet (that drain takes this job too).
    wake: bool = True

    def answer(self) -> dict[str, str | None]:
        """The body of API.md's 202 answer."""
        url = f"/jobs/{self.job_id}"
        return {
            "job_id": self.job_id,
            "kind": self.kind,
            "kata_id": None if self.kata_id == IMAGES_QUEUE else self.kata_id,
            "state": "queued",
            "url": url,
        }


class Jobs:
    """Submitting, reading and waiting for jobs."""

    def __init__(
        self,
        client: redis.Redis,
        blocking: redis.Redis,
        *,
        job_ttl_s: int,
        max_queued: int,
        kata_max_queued: int,
    ) -> None:
        self.redis = client
        self.blocking = blocking  # a client whose read timeout outlasts the longest wait
        self.job_ttl_s = job_ttl_s
        self.max_queued = max_queued
        self.kata_max_queued = kata_max_queued
        self._submit = client.register_script(_SUBMIT)

    @classmethod
    def connect(cls, settings: Settings) -> Jobs:
        """Jobs on the Redis the settings name, with the settings' limits."""
        return cls(
            connect_redis(settings.redis_url),
            connect_redis(settings.redis_url, read_timeout_s=MAX_WAIT_S + 5),
            job_ttl_s=settings.job_ttl_s,
            max_queued=settings.max_queued,
            kata_max_queued=settings.kata_max_queued,
        )

    def submit(
        self,
        kind: str,
        kata_id: str,
        avatar_name: str | None,
        payload: dict[str, Any],
        now: datetime | None = None,
    ) -> Submitted:
        """Stores the job and appends it to its kata's queue, in one atomic step."""
        job_id = new_job_id()
        fields = {
            "job_id": job_id,
            "kind": kind,
            "kata_id": kata_id,
            "avatar_name": avatar_name or "",
            "state": "queued",
            "submitted_at": now_iso(now),
            "payload": json.dumps(payload),
        }
        flat = [item for pair in fields.items() for item in pair]
        keys = [kata_key(kata_id, "queue"), job_key(job_id), ACTIVE, QUEUED, woken_key(kata_id)]
        args: list[str | int] = [
            job_id,
            kata_id,
            self.kata_max_queued,
            self.max_queued,
            self.job_ttl_s,
            WOKEN_TTL_MS,
            *flat,
        ]
        with redis_errors():
            outcome = self._submit(keys=keys, args=args)
        if outcome == b"kata_busy":
            raise KataBusy(f"kata {kata_id} already has {self.kata_max_queued} jobs queued")
        if outcome == b"full":
            raise Unavailable(f"the runner already holds {self.max_queued} queued jobs")
        return Submitted(job_id, kind, kata_id, wake=outcome == b"wake")

    def unsent(self, kata_id: str) -> None:
        """Forgets the kata's drain message (it could not be sent), so that the next
        submission sends one."""
        with redis_errors():
            self.redis.delete(woken_key(kata_id))

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The job as API.md shows it, or None when unknown or expired."""
        with redis_errors():
            record = self.redis.hgetall(job_key(job_id))
        return show_job(record) if record else None  # type: ignore[arg-type]

    def wait(self, job_id: str, wait_s: float) -> dict[str, Any] | None:
        """The job once it ended, or as it is when wait_s passed.

        Blocks on the job's done list; BLMOVE of a one-element list onto itself wakes every
        waiter in turn and leaves the element for the next.
        """
        job = self.get(job_id)
        if job is None or job["state"] in ("done", "failed") or wait_s <= 0:
            return job
        with redis_errors():
            # Redis takes a fractional timeout; redis-py's annotation says int.
            self.blocking.blmove(
                done_key(job_id),
                done_key(job_id),
                wait_s,  # type: ignore[arg-type]
                "RIGHT",
                "LEFT",
            )
        return self.get(job_id)

    def kata(self, kata_id: str) -> dict[str, Any] | None:
        """API.md's kata record, or None when the runner knows nothing of the kata."""
        with redis_errors():
            pipe = self.redis.pipeline(transaction=False)
            pipe.hgetall(kata_key(kata_id))
            pipe.llen(kata_key(kata_id, "queue"))
            pipe.llen(kata_key(kata_id, "inflight"))
            record, queued, running = pipe.execute()
        if not record and not queued and not running:
            return None
        return {
            "kata_id": kata_id,
            "hello_at": _text(record.get(b"hello_at")),
            "run_at": _text(record.get(b"run_at")),
            "queued": queued,
            "running": running,
        }

    def ping(self) -> None:
        """Raises Unavailable unless Redis answers."""
        with redis_errors():
            self.redis.ping()


def show_job(record: dict[bytes, bytes]) -> dict[str, Any]:
    """A job hash as API.md's job."""

    def field(name: str) -> str | None:
        return _text(record.get(name.encode()))

    result, error = field("result"), field("error")
    return {
        "job_id": field("job_id"),
        "kind": field("kind"),
        "kata_id": None if field("kata_id") == IMAGES_QUEUE else field("kata_id"),
        "avatar_name": field("avatar_name") or None,
        "state": field("state"),
        "submitted_at": field("submitted_at"),
        "started_at": field("started_at"),
        "finished_at": field("finished_at"),
        "result": json.loads(result) if result else None,
        "error": json.loads(error) if error else None,
    }


def _text(value: bytes | None) -> str | None:
    return None if value is None or value == b"" else value.decode()


class redis_errors:
    """Turns Redis connection failures into Unavailable."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: object
    ) -> None:
        if isinstance(error, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
            raise Unavailable(f"redis does not answer: {error}") from error
        if isinstance(error, redis.exceptions.BusyLoadingError):
            raise Unavailable("redis is loading its data") from error


def connect_redis(url: str, read_timeout_s: float = 5.0) -> redis.Redis:
    """A Redis client that fails fast when Redis is gone."""
    return redis.Redis.from_url(
        url, socket_connect_timeout=2, socket_timeout=read_timeout_s, health_check_interval=30
    )
