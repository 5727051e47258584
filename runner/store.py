"""The connection to Redis, and its failures as the runner's."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import redis

from runner.errors import Unavailable


def connect_redis(url: str, read_timeout_s: float = 5.0, max_connections: int = 100) -> redis.Redis:
    """A Redis client that fails fast when Redis is gone; past max_connections in use at
    once, a call fails with Unavailable (redis-py's own default bound is 100)."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=2,
        socket_timeout=read_timeout_s,
        health_check_interval=30,
        max_connections=max_connections,
    )


@contextlib.contextmanager
def redis_errors() -> Iterator[None]:
    """Turns Redis connection failures into Unavailable."""
    try:
        yield
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
        raise Unavailable(f"redis does not answer: {error}") from error
    except redis.exceptions.BusyLoadingError as error:
        raise Unavailable("redis is loading its data") from error
    except redis.exceptions.OutOfMemoryError as error:
        # maxmemory with noeviction: Redis refuses writes rather than dropping what it holds.
        raise Unavailable("redis is out of memory: it accepts no more jobs for now") from error
