"""GET /hello/clock: three server-sent events, one a second apart."""

import asyncio
import time


async def handle(g):
    await g.response.stream()
    for tick in range(3):
        await g.response.write_sse({"tick": tick, "time": time.time()}, event="tick")
        await asyncio.sleep(1)
    await g.response.end()
