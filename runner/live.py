"""What is going on right now, read from Redis: workers online, queue depth, leases."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import redis
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from runner import keys
from runner.clock import epoch


def holder_worker(token: str) -> str:
    """The worker name in a lease token `worker:pid:random`."""
    return token.rsplit(":", 2)[0]


def workers(client: redis.Redis) -> list[dict[str, Any]]:
    """The workers that announced themselves within their heartbeat TTL."""
    found = sorted(client.scan_iter(match=keys.WORKERS, count=100))
    records = client.mget(found) if found else []
    return [json.loads(r) for r in records if r]


def beat(client: redis.Redis) -> dict[str, Any] | None:
    """Beat's presence record while it runs (it schedules the reaper), else None."""
    record = client.get(keys.BEAT)
    return json.loads(record) if record else None


def queue_stats(client: redis.Redis, now: datetime | None = None) -> dict[str, Any]:
    """Queue depth, the oldest queued job's age, and the leases held, by worker."""
    now = now or datetime.now(UTC)
    katas = [k.decode() for k in client.sscan_iter(keys.ACTIVE)]
    pipe = client.pipeline(transaction=False)
    for kata_id in katas:
        pipe.lindex(keys.queue(kata_id), 0)
        pipe.get(keys.lease(kata_id))
    found = pipe.execute() if katas else []
    heads = [h.decode() for h in found[0::2] if h]
    leases = Counter(holder_worker(t.decode()) for t in found[1::2] if t)
    oldest = None
    if heads:
        pipe = client.pipeline(transaction=False)
        for job_id in heads:
            pipe.hget(keys.job(job_id), "submitted_at")
        times = [epoch(t.decode()) for t in pipe.execute() if t]
        if times:
            oldest = max(0.0, now.timestamp() - min(times))
    depth = int(client.get(keys.QUEUED) or 0)
    return {"queue_depth": depth, "oldest_queued_age_s": oldest, "leases": dict(leases)}


class LiveCollector(Collector):
    """Gauges read from Redis at each scrape."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def collect(self) -> Iterable[GaugeMetricFamily]:
        stats = queue_stats(self.redis)
        yield GaugeMetricFamily(
            "runner_queue_depth", "Jobs queued over all katas.", value=stats["queue_depth"]
        )
        yield GaugeMetricFamily(
            "runner_oldest_queued_age_seconds",
            "Age of the oldest job still queued (0: none).",
            value=stats["oldest_queued_age_s"] or 0.0,
        )
        yield GaugeMetricFamily(
            "runner_active_leases",
            "Katas a worker is draining now.",
            value=sum(stats["leases"].values()),
        )
        yield GaugeMetricFamily(
            "runner_kata_containers_live",
            "Katas with a live container on the docker host.",
            value=int(self.redis.zcard(keys.LIVE_KATAS)),
        )
        yield GaugeMetricFamily(
            "runner_workers_online",
            "Workers that announced themselves.",
            value=len(workers(self.redis)),
        )
