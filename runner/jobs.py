"""Job records and per-kata queues in Redis, as the API and the workers both see them.

runner/keys.py names every key; runner/mailbox.py holds what a lease holder does with them.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

import redis

from runner import keys, lua_scripts
from runner.clock import now_iso
from runner.errors import KataBusy, Unavailable
from runner.hostbook import HOST_LOST
from runner.keys import IMAGES_QUEUE, is_images_queue
from runner.models import PullImage, Request
from runner.settings import Settings
from runner.store import connect_redis, redis_errors

# The job kinds, in API.md's order (its table of jobs, then cyber-dojo's run);
# worker/kinds.py says how a worker does each.
JobKind = Literal[
    "new_kata", "old_kata", "new_avatar", "old_avatar", "run", "pull_image", "cyber_dojo_run"
]
JOB_KINDS: tuple[str, ...] = get_args(JobKind)
# A job's states (API.md, "Jobs"); a submission is answered queued, or failed at once when
# its kata's host is lost.
JobState = Literal["queued", "running", "done", "failed"]
AcceptedState = Literal["queued", "failed"]
JOB_STATES: tuple[str, ...] = get_args(JobState)
ENDED: tuple[JobState, ...] = ("done", "failed")

MAX_WAIT_S = 30  # the longest ?wait= of GET /jobs/{id}
# How long a sent drain message stands for the submissions after it: past this, a submission
# sends another, in case the first was lost (the sweep also re-wakes a kata left waiting).
WOKEN_TTL_MS = 60_000


def new_job_id() -> str:
    return "j_" + secrets.token_urlsafe(12)


@dataclass(frozen=True)
class Submitted:
    """A job the API accepted."""

    job_id: str
    kind: JobKind
    kata_id: str
    # Whether the submitter sends the kata a drain message: not while one sent earlier has
    # not started yet (that drain takes this job too).
    wake: bool = True
    host: str = ""  # the host the kata is placed on: its drain goes to that host's queue
    lost: bool = False  # the kata's host is lost: the job ended at once, host_lost
    children: tuple[Submitted, ...] = ()  # an image pull's job on each host

    def wakes(self) -> list[tuple[str, str]]:
        """The (kata, host) pairs whose drain the submitter sends."""
        own = [(self.kata_id, self.host)] if self.wake else []
        return own + [pair for child in self.children for pair in child.wakes()]

    def answer(self) -> dict[str, str | None]:
        """The body of API.md's 202 answer."""
        url = f"/jobs/{self.job_id}"
        state: AcceptedState = "failed" if self.lost else "queued"
        return {
            "job_id": self.job_id,
            "kind": self.kind,
            "kata_id": None if is_images_queue(self.kata_id) else self.kata_id,
            "state": state,
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
        default_host: str = "local",
        host_live_s: float = 15.0,
        host_lost_s: float = 60.0,
    ) -> None:
        self.redis = client
        self.blocking = blocking  # a client whose read timeout outlasts the longest wait
        self.job_ttl_s = job_ttl_s
        self.max_queued = max_queued
        self.kata_max_queued = kata_max_queued
        self.default_host = default_host
        self.host_live_s = host_live_s
        self.host_lost_s = host_lost_s
        self._submit = lua_scripts.register(client, "submit")

    @classmethod
    def connect(cls, settings: Settings) -> Jobs:
        """Jobs on the Redis the settings name, with the settings' limits.

        Every connection the API serves may hold one connection of each client at once (a
        long-poll holds a blocking one for up to MAX_WAIT_S), so each pool is as large.
        """
        most = settings.api_connections
        return cls(
            connect_redis(settings.redis_url, max_connections=most),
            connect_redis(settings.redis_url, read_timeout_s=MAX_WAIT_S + 5, max_connections=most),
            job_ttl_s=settings.job_ttl_s,
            max_queued=settings.max_queued,
            kata_max_queued=settings.kata_max_queued,
            default_host=settings.host_name,
            host_live_s=presence_ttl_s(settings),
            host_lost_s=settings.host_lost_s,
        )

    def submit(
        self,
        kind: JobKind,
        kata_id: str,
        avatar_name: str | None,
        request: Request,
        now: datetime | None = None,
        *,
        pin: str = "",
        parent: str = "",
    ) -> Submitted:
        """Stores the job, its request as the model's JSON, and appends it to its kata's
        queue, in one atomic step; in that step, places a kata that has no host (or a lost
        one, at its new_kata) on a live host, and ends at once a job of a lost host's kata."""
        job_id = new_job_id()
        fields = {
            "job_id": job_id,
            "kind": kind,
            "kata_id": kata_id,
            "avatar_name": avatar_name or "",
            "state": "queued",
            "submitted_at": now_iso(now),
            "payload": request.model_dump_json(),
        }
        if parent:
            fields["parent"] = parent
        ended = now_iso()
        flat = [item for pair in fields.items() for item in pair]
        names = {
            "queue": keys.queue(kata_id),
            "job": keys.job(job_id),
            "active": keys.ACTIVE,
            "queued": keys.QUEUED,
            "woken": keys.woken(kata_id),
            "kata": keys.kata(kata_id),
            "hosts_seen": keys.HOSTS_SEEN,
            "hosts_katas": keys.HOSTS_KATAS,
            "draining": keys.HOSTS_DRAINING,
        }
        args: dict[str, lua_scripts.Arg] = {
            "job_id": job_id,
            "kata_id": kata_id,
            "kata_max": self.kata_max_queued,
            "max": self.max_queued,
            "ttl_s": self.job_ttl_s,
            "woken_ms": WOKEN_TTL_MS,
            "kind": kind,
            "images": IMAGES_QUEUE,
            "live_s": self.host_live_s,
            "lost_s": self.host_lost_s,
            "default_host": self.default_host,
            "host_prefix": keys.HOST_PREFIX,
            "host_lost": HOST_LOST,
            "now": ended,
            "pin": pin,
        }
        with redis_errors():
            outcome, placed = self._submit(keys=names, args=args, rest=flat)
        host = placed.decode()
        if outcome == b"no_host":
            raise Unavailable("no docker host is live (no worker heartbeats)")
        if outcome == b"kata_busy":
            raise KataBusy(f"kata {kata_id} already has {self.kata_max_queued} jobs queued")
        if outcome == b"full":
            raise Unavailable(f"the runner already holds {self.max_queued} queued jobs")
        if outcome == b"lost":
            return Submitted(job_id, kind, kata_id, wake=False, host=host, lost=True)
        return Submitted(job_id, kind, kata_id, wake=outcome == b"wake", host=host)

    def submit_pull(self, request: PullImage, now: datetime | None = None) -> Submitted:
        """An image pull on every live host (the default one when none is live): a job of
        each host's own, children of the one answered, which ends with the last of them and
        says what each host now holds."""
        hosts = self.live_hosts() or [self.default_host]
        job_id = new_job_id()
        fields = {
            "job_id": job_id,
            "kind": "pull_image",
            "kata_id": IMAGES_QUEUE,
            "avatar_name": "",
            "state": "queued",
            "submitted_at": now_iso(now),
            "pending": len(hosts),
            "hosts": ",".join(hosts),
        }
        with redis_errors():
            pipe = self.redis.pipeline(transaction=True)
            pipe.hset(keys.job(job_id), mapping=fields)  # type: ignore[arg-type]
            pipe.expire(keys.job(job_id), self.job_ttl_s)
            pipe.execute()
        children = []
        try:
            for host in hosts:
                queue = keys.images_queue(host)
                children.append(
                    self.submit("pull_image", queue, None, request, now, pin=host, parent=job_id)
                )
        except Exception:
            with redis_errors():
                self.redis.delete(keys.job(job_id))  # its children end on their own
            raise
        return Submitted(job_id, "pull_image", IMAGES_QUEUE, wake=False, children=tuple(children))

    def live_hosts(self) -> list[str]:
        """The hosts with a live worker, by Redis's clock."""
        with redis_errors():
            seconds, micros = self.redis.time()
            found = self.redis.zrangebyscore(
                keys.HOSTS_SEEN, seconds + micros / 1e6 - self.host_live_s, "+inf"
            )
        return sorted(h.decode() for h in found if isinstance(h, bytes))

    def unsent(self, kata_id: str) -> None:
        """Forgets the kata's drain message (it could not be sent), so that the next
        submission sends one."""
        with redis_errors():
            self.redis.delete(keys.woken(kata_id))

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The job as API.md shows it, or None when unknown or expired."""
        with redis_errors():
            record = self.redis.hgetall(keys.job(job_id))
        return show_job(record) if record else None  # type: ignore[arg-type]

    def wait(self, job_id: str, wait_s: float) -> dict[str, Any] | None:
        """The job once it ended, or as it is when wait_s passed.

        Blocks on the job's done list; BLMOVE of a one-element list onto itself wakes every
        waiter in turn and leaves the element for the next.
        """
        job = self.get(job_id)
        if job is None or job["state"] in ENDED or wait_s <= 0:
            return job
        with redis_errors():
            # Redis takes a fractional timeout; redis-py's annotation says int.
            self.blocking.blmove(
                keys.done(job_id),
                keys.done(job_id),
                wait_s,  # type: ignore[arg-type]
                "RIGHT",
                "LEFT",
            )
        return self.get(job_id)

    def kata(self, kata_id: str) -> dict[str, Any] | None:
        """API.md's kata record, or None when the runner knows nothing of the kata."""
        with redis_errors():
            pipe = self.redis.pipeline(transaction=False)
            pipe.hgetall(keys.kata(kata_id))
            pipe.llen(keys.queue(kata_id))
            pipe.llen(keys.inflight(kata_id))
            record, queued, running = pipe.execute()
        if not record and not queued and not running:
            return None
        return {
            "kata_id": kata_id,
            "host": _text(record.get(b"host")),
            "hello_at": _text(record.get(b"hello_at")),
            "run_at": _text(record.get(b"run_at")),
            "queued": queued,
            "running": running,
        }

    def ping(self) -> None:
        """Raises Unavailable unless Redis answers."""
        with redis_errors():
            self.redis.ping()

    def workers_consuming(self) -> int:
        """How many workers announced themselves within their heartbeat TTL."""
        with redis_errors():
            return sum(1 for _ in self.redis.scan_iter(match=keys.WORKERS, count=100))


def presence_ttl_s(settings: Settings) -> int:
    """How long a worker's presence lives after its last heartbeat: a host is live while one
    of its workers' heartbeats is at most this old."""
    return max(3, int(settings.worker_heartbeat_s * 3))


def show_job(record: dict[bytes, bytes]) -> dict[str, Any]:
    """A job hash as API.md's job."""

    def field(name: str) -> str | None:
        return _text(record.get(name.encode()))

    result, error = field("result"), field("error")
    return {
        "job_id": field("job_id"),
        "kind": field("kind"),
        "kata_id": None if is_images_queue(field("kata_id") or "") else field("kata_id"),
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
