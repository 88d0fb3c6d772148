"""Drivers made once per app: the first call of a module (a store, an index) creates its driver, calls
made meanwhile wait for the same one, and it is closed when the app unloads. A creation that fails (a
configuration error) is not kept, so the next call reports it again."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar


class Closable(Protocol):
    async def close(self) -> None: ...


D = TypeVar("D", bound=Closable)


async def app_driver(app: Any, state_key: str, name: str, create: Callable[[], Awaitable[D]]) -> D:
    """The driver `name` of `app` (kept in `app.state[state_key]`), made by `create()` on first use."""
    drivers: dict[str, asyncio.Future[Any]] = app.state.setdefault(state_key, {})
    pending = drivers.get(name)
    if pending is None:
        pending = drivers[name] = asyncio.ensure_future(_create(app, drivers, name, create))
    return await asyncio.shield(pending)


async def _create(app: Any, drivers: dict[str, Any], name: str, create: Callable[[], Awaitable[D]]) -> D:
    try:
        driver = await create()
    except BaseException:
        drivers.pop(name, None)  # a config error is reported again on the next call
        raise
    app.on_close(driver.close)
    return driver
