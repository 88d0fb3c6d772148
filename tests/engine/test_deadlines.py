"""The engine's request budgets share one timer per event loop (`Deadlines`): every request still expires
at its own deadline, earliest first, whatever order they arrive in. Driven by a fake loop clock."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from gingee_kernel.engine.dispatch import Deadlines, _Deadline


class FakeTimer:
    def __init__(self, when: float, callback: Any) -> None:
        self.when, self.callback, self.cancelled = when, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class FakeLoop:
    """`time()`, `call_at()` and a `run_until(t)` that fires due timers in order, as asyncio would."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[FakeTimer] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Any) -> FakeTimer:
        timer = FakeTimer(when, callback)
        self.timers.append(timer)
        return timer

    def live(self) -> list[FakeTimer]:
        return [t for t in self.timers if not t.cancelled]

    def run_until(self, until: float) -> None:
        while True:
            due = sorted((t for t in self.live() if t.when <= until), key=lambda t: t.when)
            if not due:
                break
            timer = due[0]
            timer.cancelled = True  # ran
            self.now = max(self.now, timer.when)
            timer.callback()
        self.now = until


class FakeTask:
    def __init__(self) -> None:
        self.cancels = 0

    def cancel(self) -> bool:
        self.cancels += 1
        return True


class Reply:
    def __init__(self, streaming: bool = False) -> None:
        self.streaming = streaming


def start(loop: FakeLoop, deadlines: Deadlines, seconds: float, streaming: bool = False) -> _Deadline:
    entry = _Deadline(loop.time() + seconds, FakeTask(), Reply(streaming))  # type: ignore[arg-type]
    deadlines.add(entry)
    return entry


def test_one_timer_serves_every_request_and_each_expires_at_its_own_deadline():
    loop = FakeLoop()
    deadlines = Deadlines(loop)  # type: ignore[arg-type]
    first = start(loop, deadlines, 30)
    loop.now = 1
    second = start(loop, deadlines, 30)
    assert len(loop.live()) == 1 and loop.live()[0].when == 30  # no timer per request

    loop.run_until(29.9)
    assert not first.expired and not second.expired
    loop.run_until(30)
    assert first.expired and first.task.cancels == 1
    assert not second.expired
    assert [t.when for t in loop.live()] == [31]  # re-armed for the next deadline
    loop.run_until(31)
    assert second.expired and second.task.cancels == 1
    assert loop.live() == [] and not deadlines.pending


def test_a_tighter_budget_arriving_later_brings_the_timer_forward():
    loop = FakeLoop()
    deadlines = Deadlines(loop)  # type: ignore[arg-type]
    loose = start(loop, deadlines, 30)
    loop.now = 1
    tight = start(loop, deadlines, 0.3)
    assert [t.when for t in loop.live()] == [1.3]
    loop.run_until(1.3)
    assert tight.expired and not loose.expired
    assert [t.when for t in loop.live()] == [30]


def test_finished_requests_are_never_cancelled_and_a_streaming_reply_is_left_alone():
    loop = FakeLoop()
    deadlines = Deadlines(loop)  # type: ignore[arg-type]
    done = start(loop, deadlines, 1)
    streaming = start(loop, deadlines, 2, streaming=True)
    late = start(loop, deadlines, 3)
    deadlines.discard(done)
    loop.run_until(10)
    assert not done.expired and done.task.cancels == 0
    assert not streaming.expired and streaming.task.cancels == 0
    assert late.expired and late.task.cancels == 1
    assert not deadlines.pending and loop.live() == []


def test_the_clock_is_the_loops():
    loop = asyncio.new_event_loop()
    try:
        assert Deadlines(loop).clock is time.monotonic  # what BaseEventLoop.time() reads
    finally:
        loop.close()
    fake = FakeLoop()
    assert Deadlines(fake).clock == fake.time  # type: ignore[arg-type]
