"""The master-worker channel on a real socket pair: exchanges, flow control, and a peer that misbehaves."""

from __future__ import annotations

import asyncio
import json
import socket
import struct

import pytest

from gingee_kernel.isolation.channel import (
    WINDOW,
    Channel,
    ChannelClosed,
    Exchange,
    RemoteError,
    open_channel,
)


async def pair(handler=None, **options) -> tuple[Channel, Channel]:
    a, b = socket.socketpair()
    master = await open_channel(a, master=True, **options)
    worker = await open_channel(b, master=False, handler=handler)
    return master, worker


async def echo(exchange: Exchange, header: dict, payload: bytes) -> None:
    if header.get("k") == "boom":
        raise ValueError("no such thing")
    await exchange.send({"k": "echo", "got": header.get("n")}, payload[::-1], end=True)


async def test_calls_both_ways_and_remote_errors() -> None:
    master, worker = await pair(echo)
    calls = [master.call({"k": "n", "n": i}, bytes([i]) * 3) for i in range(50)]
    answers = await asyncio.gather(*calls)
    assert [(h["got"], p) for h, p in answers] == [(i, bytes([i]) * 3) for i in range(50)]
    with pytest.raises(RemoteError, match="ValueError: no such thing"):
        await master.call({"k": "boom"})
    await master.close()
    await worker.wait_closed()


async def test_a_slow_reader_holds_back_only_its_own_exchange() -> None:
    taken: list[int] = []
    release = asyncio.Event()

    async def slow(exchange: Exchange, header: dict, payload: bytes) -> None:
        if header.get("k") == "quick":
            await exchange.send({"k": "ok"}, end=True)
            return
        await release.wait()
        while True:
            frame, _ = await exchange.recv()
            if frame.get("e"):
                break
            taken.append(frame["n"])
        await exchange.send({"k": "done"}, end=True)

    master, worker = await pair(slow)
    stream = master.open()
    await stream.send({"k": "open"})
    sent = 0

    async def flood() -> None:
        nonlocal sent
        for n in range(WINDOW * 3):
            await stream.send({"k": "chunk", "n": n})
            sent += 1
        await stream.send({"k": "last"}, end=True)

    flooding = asyncio.ensure_future(flood())
    await asyncio.sleep(0.2)
    assert sent < WINDOW  # held back by the window: nothing was taken yet
    assert (await master.call({"k": "quick"}))[0]["k"] == "ok"  # other exchanges go on
    release.set()
    await flooding
    assert (await stream.recv())[0]["k"] == "done"
    assert taken == list(range(WINDOW * 3))
    await master.close()
    await worker.close()


def _frame(header: dict, payload: bytes = b"") -> bytes:
    data = json.dumps(header).encode()
    return struct.pack(">II", len(data), len(payload)) + data + payload


async def test_a_peer_that_ignores_the_window_or_sends_huge_frames_is_cut_off() -> None:
    for frames in (
        [_frame({"x": 0, "k": "chunk"}) for _ in range(WINDOW * 3)],  # on an exchange we opened
        [struct.pack(">II", 10, 10**9)],  # a gigabyte announced
        [b"\x00\x00\x00\x02\x00\x00\x00\x00{x"],  # not JSON
    ):
        ours, theirs = socket.socketpair()
        master = await open_channel(ours, master=True, max_payload=1024)
        exchange = master.open()  # id 0
        await exchange.send({"k": "ask"})
        theirs.sendall(b"".join(frames))
        await asyncio.wait_for(master.wait_closed(), 5)
        with pytest.raises(ChannelClosed):
            for _ in range(WINDOW * 3):  # what came within the window is still read, then it ends
                await exchange.recv()
        theirs.close()


async def test_calls_beyond_the_limit_in_flight_are_refused_not_queued() -> None:
    gate = asyncio.Event()

    async def parked(exchange: Exchange, header: dict, payload: bytes) -> None:
        await gate.wait()
        await exchange.send({"k": "ok"}, end=True)

    a, b = socket.socketpair()
    master = await open_channel(a, master=True, handler=parked)
    worker = Channel(*(await asyncio.open_unix_connection(sock=b)), master=False)
    master.max_served = 5
    calls = [asyncio.ensure_future(worker.call({"k": "x"})) for _ in range(8)]
    await asyncio.sleep(0.2)
    gate.set()
    results = await asyncio.gather(*calls, return_exceptions=True)
    refused = [r for r in results if isinstance(r, RemoteError)]
    assert len(refused) == 3 and "more than 5 calls in flight" in str(refused[0])
    assert sum(1 for r in results if isinstance(r, tuple)) == 5
    await master.close()
    await worker.close()
