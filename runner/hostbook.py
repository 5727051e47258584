"""The docker hosts in Redis: heartbeats, which kata is placed where, and ending the jobs of a
lost host's katas. runner/lua/submit.lua places a kata as it queues its first job;
ARCHITECTURE.md, "Many docker hosts", says why and how."""

from __future__ import annotations

import json

import redis

from runner import keys, lua_scripts
from runner.errors import HostLost

HOST_LOST = json.dumps(
    {
        "code": HostLost.code,
        "message": (
            "the kata's docker host has had no live worker for longer than RUNNER_HOST_LOST_S; "
            "its volume is lost: PUT the kata again (new_kata, new_avatar) to place it anew"
        ),
    }
)


class HostBook:
    """One host's view of every host: its own heartbeat and sweep gate, any kata's host, and
    the ending of a lost host's katas' jobs."""

    def __init__(
        self, client: redis.Redis, *, host_name: str, lost_s: float, job_ttl_s: int
    ) -> None:
        self.redis = client
        self.host_name = host_name
        self.lost_s = lost_s
        self.job_ttl_s = job_ttl_s
        self._host_lost = lua_scripts.register(client, "host_lost")
        self._seen = lua_scripts.register(client, "seen")

    def sweep_due(self, every_s: float) -> bool:
        """True for at most one of this host's workers every every_s seconds: whose turn it
        is to remove the host's idle kata containers."""
        key = keys.host_sweep_due(self.host_name)
        return bool(self.redis.set(key, "1", nx=True, px=max(1, int(every_s * 1000))))

    def seen(self) -> None:
        """A heartbeat of this host: one of its workers lives."""
        self._seen(keys={"hosts_seen": keys.HOSTS_SEEN}, args={"host": self.host_name})

    def kata_host(self, kata_id: str) -> str | None:
        """The host the kata is placed on, None when it has none."""
        host = self.redis.hget(keys.kata(kata_id), "host")
        return host.decode() if isinstance(host, bytes) else None

    def kata_hosts(self, kata_ids: list[str]) -> list[str | None]:
        """The host of each kata, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for kata_id in kata_ids:
            pipe.hget(keys.kata(kata_id), "host")
        found = pipe.execute() if kata_ids else []
        return [h.decode() if isinstance(h, bytes) else None for h in found]

    def ages(self) -> dict[str, float]:
        """Every host ever seen, by the age of its latest heartbeat in seconds (Redis's clock)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.time()
        pipe.zrange(keys.HOSTS_SEEN, 0, -1, withscores=True)
        (seconds, micros), found = pipe.execute()
        now = seconds + micros / 1e6
        return {h.decode(): now - float(at) for h, at in found}

    def fail_lost(self, kata_id: str, host: str, now: str) -> int:
        """Ends the kata's queued and in-flight jobs host_lost, if it is still placed on host
        and host is still lost; how many, -1 when not."""
        k = kata_id
        names = {
            "lease": keys.lease(k),
            "queue": keys.queue(k),
            "inflight": keys.inflight(k),
            "active": keys.ACTIVE,
            "queued": keys.QUEUED,
            "kata": keys.kata(k),
            "hosts_seen": keys.HOSTS_SEEN,
        }
        args: dict[str, lua_scripts.Arg] = {
            "kata_id": k,
            "host": host,
            "lost_s": self.lost_s,
            "now": now,
            "error": HOST_LOST,
            "ttl_s": self.job_ttl_s,
            "job_prefix": keys.JOB_PREFIX,
            "host_prefix": keys.HOST_PREFIX,
        }
        return int(self._host_lost(keys=names, args=args))
