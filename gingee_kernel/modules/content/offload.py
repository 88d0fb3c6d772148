"""CPU-heavy content work (decoding an image, laying out a PDF, drawing a chart, packing an archive) runs
here: in a small thread pool of its own, never on the event loop, and within the request's time budget.

    result = await run_cpu(render, budget_args...)   # render(budget, ...) calls budget.check() between steps

The engine cancels a request's task when its budget runs out (504). A thread cannot be stopped from the
outside, so the work is handed a `Budget` and checks it between steps (between pages, entries or image
operations): past the deadline it raises ContentTimeout and the thread is free again. The pool has one
thread per core, so overrunning work queues instead of piling up threads; queued work whose request was
already answered never starts.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ...engine.context import current_deadline
from ...errors import HttpError

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


class ContentTimeout(HttpError):
    """Content work ran past the request's time budget and was stopped at its next step (504)."""

    def __init__(self, module: str) -> None:
        self.module = module
        super().__init__(504, "GATEWAY_TIMEOUT", f"{module}: the work ran past the request's time budget")


class Budget:
    """The deadline (time.monotonic()) the work must end by, or None outside a request."""

    __slots__ = ("deadline", "module")

    def __init__(self, module: str, deadline: float | None) -> None:
        self.module = module
        self.deadline = deadline

    def check(self) -> None:
        """Raise ContentTimeout once the deadline has passed; call it between steps of the work."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise ContentTimeout(self.module)


def pool() -> ThreadPoolExecutor:
    """The content modules' thread pool: one thread per core (at least two)."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max(2, os.cpu_count() or 2), thread_name_prefix="gingee-content")
    return _pool


async def run_cpu(module: str, func: Callable[..., T], *args: Any) -> T:
    """`func(budget, *args)` run in the content pool, in the caller's context (current app, request),
    with the current request's deadline as its Budget."""
    budget = Budget(module, current_deadline())
    budget.check()
    loop = asyncio.get_running_loop()
    call = contextvars.copy_context().run
    return await loop.run_in_executor(pool(), call, func, budget, *args)
