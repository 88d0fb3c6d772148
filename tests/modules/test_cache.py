"""The cache module over both drivers (memory and a real Redis), plus the memory driver on its own."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis

from gingee_kernel.engine.app import AppRuntime
from gingee_kernel.engine.context import app_context
from gingee_kernel.errors import ModuleConfigError, NoAppContext, PermissionDenied, ServiceUnavailable
from gingee_kernel.modules import cache
from gingee_kernel.modules.cache_drivers.memory import MemoryDriver
from tests.fixtures.apps import MakeApp


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def server(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The gingee.json overrides for each driver; Redis keys live under a prefix unique to the test."""
    if request.param == "memory":
        return {"cache": {"driver": "memory", "prefix": "pfx:", "max_entries": 100}}
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix")
    return {"cache": {"driver": "redis", "prefix": prefix, "redis": {"url": url}}}


@pytest.fixture
async def shared() -> AsyncIterator[dict[str, Any]]:
    """The project-wide dict; its cache backend is closed afterwards."""
    project: dict[str, Any] = {}
    yield project
    await cache.close_backend(project)


@pytest.fixture
def app(make_app: MakeApp, server: dict[str, Any], shared: dict[str, Any]) -> AppRuntime:
    """An app granted cache."""
    return make_app("shop", server=server, grants={"cache"}, shared=shared)


@pytest.fixture
def other(make_app: MakeApp, server: dict[str, Any], shared: dict[str, Any]) -> AppRuntime:
    """A second app of the same project, also granted cache."""
    return make_app("blog", server=server, grants={"cache"}, shared=shared)


def raw_keys(server: dict[str, Any], app: AppRuntime) -> list[str]:
    """The names the backend actually stores."""
    settings = server["cache"]
    if settings["driver"] == "memory":
        return sorted(app.shared["cache"]._data)
    client = redis.Redis.from_url(settings["redis"]["url"], decode_responses=True)
    try:
        return sorted(client.scan_iter(match=f"{settings['prefix']}*"))
    finally:
        client.close()


@pytest.mark.parametrize(
    "value",
    [
        {"name": "Ada", "tags": ["x", "y"], "n": {"deep": [1, 2.5, None, True]}},
        [1, "two"],
        "text",
        42,
        1.5,
        False,
    ],
)
async def test_json_round_trip(app: AppRuntime, value: Any) -> None:
    with app_context(app):
        await cache.set("k", value)
        assert await cache.get("k") == value


async def test_missing_default_and_null(app: AppRuntime) -> None:
    with app_context(app):
        assert await cache.get("absent") is None
        assert await cache.get("absent", "fallback") == "fallback"
        await cache.set("null", None)
        assert await cache.get("null", "fallback") is None
        await cache.set("tuple", (1, 2))
        assert await cache.get("tuple") == [1, 2]


@pytest.mark.parametrize(("value", "name"), [({1, 2}, "set"), (object(), "object"), (b"x", "bytes")])
async def test_non_json_refused(app: AppRuntime, value: Any, name: str) -> None:
    with app_context(app), pytest.raises(TypeError, match=rf"\b{name}\b"):
        await cache.set("bad", {"inner": [value]})
    with app_context(app):
        assert await cache.get("bad") is None


async def test_delete(app: AppRuntime) -> None:
    with app_context(app):
        await cache.set("k", 1)
        assert await cache.delete("k") is True
        assert await cache.delete("k") is False
        assert await cache.get("k") is None


async def test_ttl_expires(app: AppRuntime) -> None:
    with app_context(app):
        await cache.set("short", "v", ttl=1)
        await cache.set("forever", "v", ttl=0)
        assert await cache.get("short") == "v"
        await asyncio.sleep(1.2)
        assert await cache.get("short") is None
        assert await cache.get("forever") == "v"


async def test_default_ttl_from_config(
    make_app: MakeApp, server: dict[str, Any], shared: dict[str, Any]
) -> None:
    config = {"cache": {**server["cache"], "ttl": 1}}
    app = make_app("shop", server=config, grants={"cache"}, shared=shared)
    with app_context(app):
        await cache.set("k", "v")
        assert await cache.get("k") == "v"
        await asyncio.sleep(1.2)
        assert await cache.get("k") is None


async def test_negative_ttl_refused(app: AppRuntime) -> None:
    with app_context(app), pytest.raises(ValueError, match="ttl"):
        await cache.set("k", 1, ttl=-1)


async def test_apps_are_namespaced(app: AppRuntime, other: AppRuntime, server: dict[str, Any]) -> None:
    with app_context(app):
        await cache.set("k", "shop's")
    with app_context(other):
        assert await cache.get("k") is None
        await cache.set("k", "blog's")
        assert await cache.delete("k") is True
        assert await cache.get("k") is None
    with app_context(app):
        assert await cache.get("k") == "shop's"
    assert app.shared["cache"] is other.shared["cache"]  # one backend per project


async def test_prefix_applied_to_stored_keys(app: AppRuntime, server: dict[str, Any]) -> None:
    with app_context(app):
        await cache.set("user:1", {"a": 1})
    prefix = server["cache"]["prefix"]
    assert raw_keys(server, app) == [f"{prefix}shop:user:1"]


async def test_clear_only_own_keys(app: AppRuntime, other: AppRuntime, server: dict[str, Any]) -> None:
    with app_context(app):
        await cache.set("a", 1)
        await cache.set("b", 2)
    with app_context(other):
        await cache.set("a", 3)
    with app_context(app):
        assert await cache.clear() == 2
        assert await cache.get("a") is None
    with app_context(other):
        assert await cache.get("a") == 3
    assert raw_keys(server, app) == [f"{server['cache']['prefix']}blog:a"]


async def test_clear_escapes_glob_characters(
    make_app: MakeApp, server: dict[str, Any], shared: dict[str, Any]
) -> None:
    base = server["cache"]["prefix"]
    globby = make_app(
        "shop", server={"cache": {**server["cache"], "prefix": base + "*"}}, grants={"cache"}, shared=shared
    )
    plain = make_app(
        "shop", server={"cache": {**server["cache"], "prefix": base + "xyz"}}, grants={"cache"}, shared=shared
    )
    with app_context(plain):
        await cache.set("k", "plain")  # its stored name matches the glob "{base}*shop:*"
    with app_context(globby):
        await cache.set("k", "globby")
        assert await cache.clear() == 1
    with app_context(plain):
        assert await cache.get("k") == "plain"


async def test_incr(app: AppRuntime) -> None:
    with app_context(app):
        assert await cache.incr("hits") == 1
        assert await cache.incr("hits", 5) == 6
        assert await cache.get("hits") == 6
        await cache.set("word", "x")
        with pytest.raises(ValueError, match="not an integer"):
            await cache.incr("word")
        assert await cache.incr("brief", ttl=1) == 1
        await asyncio.sleep(1.2)
        assert await cache.get("brief") is None


async def test_permission_and_context(
    make_app: MakeApp, server: dict[str, Any], shared: dict[str, Any]
) -> None:
    app = make_app("nogrant", server=server, shared=shared)
    with app_context(app):
        for call in (
            lambda: cache.get("k"),
            lambda: cache.set("k", 1),
            lambda: cache.delete("k"),
            cache.clear,
        ):
            with pytest.raises(PermissionDenied):
                await call()
    with pytest.raises(NoAppContext):
        await cache.get("k")
    assert "cache" not in shared


async def test_unknown_driver(make_app: MakeApp, shared: dict[str, Any]) -> None:
    app = make_app("shop", server={"cache": {"driver": "memcached"}}, grants={"cache"}, shared=shared)
    with app_context(app), pytest.raises(ModuleConfigError, match="memcached"):
        await cache.get("k")


async def test_lru_eviction(make_app: MakeApp, shared: dict[str, Any]) -> None:
    settings = {"cache": {"driver": "memory", "max_entries": 3}}
    app = make_app("shop", server=settings, grants={"cache"}, shared=shared)
    with app_context(app):
        for key in "abc":
            await cache.set(key, key)
        assert await cache.get("a") == "a"  # a is now the most recently used
        await cache.set("d", "d")
        assert await cache.get("b") is None
        assert [await cache.get(k) for k in "acd"] == ["a", "c", "d"]
    assert len(shared["cache"]) == 3


async def test_memory_driver_ttl_and_eviction_with_a_fake_clock() -> None:
    now = [100.0]
    driver = MemoryDriver(max_entries=2, clock=lambda: now[0])
    await driver.set("a", "1", ttl=10)
    await driver.set("b", "2", ttl=None)
    now[0] = 109.9
    assert await driver.get("a") == "1"
    now[0] = 110.0
    assert await driver.get("a") is None
    await driver.set("c", "3", ttl=5)
    await driver.set("d", "4", ttl=None)  # over the bound: b is least recently used
    assert (await driver.get("b"), await driver.get("c"), await driver.get("d")) == (None, "3", "4")
    now[0] = 200.0
    await driver.set("e", "5", ttl=None)  # the expired c goes first, d stays
    assert (await driver.get("d"), await driver.get("e")) == ("4", "5")
    assert await driver.incr("d", 2, ttl=None) == 6
    assert await driver.clear_prefix("") == 2
    await driver.close()


async def test_redis_unreachable_is_service_unavailable(make_app: MakeApp, shared: dict[str, Any]) -> None:
    with socket.socket() as sock:  # a port that was just free, so nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = {"cache": {"driver": "redis", "redis": {"url": f"redis://127.0.0.1:{port}/0"}}}
    app = make_app("shop", server=settings, grants={"cache"}, shared=shared)
    with app_context(app):
        calls = (lambda: cache.get("k"), lambda: cache.set("k", 1), lambda: cache.delete("k"), cache.clear)
        for call in (*calls, lambda: cache.incr("k")):
            with pytest.raises(ServiceUnavailable, match="cannot be reached") as info:
                await call()
            assert isinstance(info.value.__cause__, redis.exceptions.ConnectionError)
