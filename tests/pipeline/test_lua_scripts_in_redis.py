"""Every Lua script of the runner, its fragments and prelude included, compiles in Redis; and a
call by name reaches the script's own names."""

from __future__ import annotations

import pytest
import redis

from runner import lua_scripts
from tests.unit.test_lua_scripts import SCRIPTS


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_compiles_in_redis(redis_client: redis.Redis, name: str) -> None:
    sha = redis_client.script_load(lua_scripts.load(name).source)  # a syntax error raises
    assert redis_client.script_exists(sha) == [True]


def test_keys_and_arguments_reach_the_script_by_their_names(redis_client: redis.Redis) -> None:
    renew = lua_scripts.register(redis_client, "renew")
    redis_client.set("lease", "mine")
    assert renew(keys={"lease": "lease"}, args={"ttl_ms": 5000, "token": "mine"}) == 1
    assert 0 < redis_client.pttl("lease") <= 5000
    assert renew(keys={"lease": "lease"}, args={"ttl_ms": 5000, "token": "theirs"}) == 0
