"""How websocket code of an app is called: scripts like server scripts, callbacks on the event loop."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Callable
from typing import Any

from ...engine.app import AppRuntime


async def run_script(app: AppRuntime, func: Callable[..., Any], *args: Any) -> Any:
    """Await an async `handle`, or run a plain one in the app's bounded script thread pool."""
    if inspect.iscoroutinefunction(func):
        return await func(*args)
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, func, *args)
    result = await loop.run_in_executor(app.pipeline.executor, call)
    if inspect.isawaitable(result):
        return await result
    return result


async def run_callback(func: Callable[..., Any], *args: Any) -> Any:
    """Await an async callback; call a plain one right here on the loop (it must not block)."""
    result = func(*args)
    if inspect.isawaitable(result):
        return await result
    return result
