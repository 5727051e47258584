"""The runner's status as Redis holds it right now, for GET /workers and the gauges of
GET /metrics: the workers online, each host's state, the queue's depth and the leases held;
and the mark of a draining host."""

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


def hosts(
    client: redis.Redis, online: list[dict[str, Any]], *, live_s: float, lost_s: float
) -> list[dict[str, Any]]:
    """Every host ever seen, with its workers (of online), state, katas placed, live kata
    containers, jobs queued and the age of its latest heartbeat (Redis's clock)."""
    pipe = client.pipeline(transaction=False)
    pipe.time()
    pipe.zrange(keys.HOSTS_SEEN, 0, -1, withscores=True)
    pipe.smembers(keys.HOSTS_DRAINING)
    (seconds, micros), seen, draining = pipe.execute()
    now = seconds + micros / 1e6
    names = sorted({h.decode() for h, _ in seen} | {w.get("host_name", "local") for w in online})
    last = {h.decode(): float(at) for h, at in seen}
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.zscore(keys.HOSTS_KATAS, name)
        pipe.zcard(keys.live_katas(name))
        pipe.get(keys.host_queued(name))
    found = pipe.execute()
    result = []
    for at, name in enumerate(names):
        placed, live_katas, queued = found[3 * at : 3 * at + 3]
        age = now - last[name] if name in last else None
        state = host_state(age, live_s=live_s, lost_s=lost_s)
        if state == "live" and name.encode() in draining:
            state = "draining"
        result.append(
            {
                "name": name,
                "state": state,
                "workers": [w["name"] for w in online if w.get("host_name", "local") == name],
                "katas": int(placed or 0),
                "live_katas": int(live_katas),
                "queue_depth": int(queued or 0),
                "last_heartbeat_at": (
                    None
                    if name not in last
                    else datetime.fromtimestamp(last[name], UTC).isoformat().replace("+00:00", "Z")
                ),
                "last_heartbeat_age_s": None if age is None else round(age, 3),
            }
        )
    return result


def host_state(age: float | None, *, live_s: float, lost_s: float) -> str:
    """A host's state by the age of its latest heartbeat: never seen, live, silent (its katas
    wait for it), or lost (their jobs end host_lost)."""
    if age is None:
        return "unseen"
    if age <= live_s:
        return "live"
    return "silent" if age <= lost_s else "lost"


def drain_host(client: redis.Redis, name: str, draining: bool) -> None:
    """Marks the host draining (no new kata is placed there; its katas keep running), or not."""
    if draining:
        client.sadd(keys.HOSTS_DRAINING, name)
    else:
        client.srem(keys.HOSTS_DRAINING, name)


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


class StatusCollector(Collector):
    """Gauges read from Redis at each scrape."""

    def __init__(self, client: redis.Redis, *, live_s: float = 15.0, lost_s: float = 60.0) -> None:
        self.redis = client
        self.live_s = live_s
        self.lost_s = lost_s

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
        online = workers(self.redis)
        yield GaugeMetricFamily(
            "runner_workers_online",
            "Workers that announced themselves.",
            value=len(online),
        )
        per_host = hosts(self.redis, online, live_s=self.live_s, lost_s=self.lost_s)
        gauges = {
            "workers": ("runner_host_workers", "Workers of the host that announced themselves."),
            "katas": ("runner_host_katas", "Katas placed on the host."),
            "live_katas": ("runner_host_live_katas", "Live kata containers on the host."),
            "queue_depth": ("runner_host_queue_depth", "Jobs queued for the host."),
            "last_heartbeat_age_s": (
                "runner_host_last_heartbeat_age_seconds",
                "Age of the host's latest worker heartbeat.",
            ),
        }
        for field, (name, help_text) in gauges.items():
            gauge = GaugeMetricFamily(name, help_text, labels=["host"])
            for host in per_host:
                value = host[field]
                value = len(value) if isinstance(value, list) else value
                gauge.add_metric([host["name"]], float(value or 0))
            yield gauge
        up = GaugeMetricFamily(
            "runner_host_state",
            "1 for the host's state (live, draining, silent, lost, unseen).",
            labels=["host", "state"],
        )
        for host in per_host:
            up.add_metric([host["name"], host["state"]], 1.0)
        yield up
