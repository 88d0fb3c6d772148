"""The metrics exposition, host-neutral: `await exposition(accept)` gives `(body, content_type)`.

One process: Gingee's registry, the live series and this process's `process_*` series. Several worker
processes (`PROMETHEUS_MULTIPROC_DIR` set in the environment before prometheus-client is imported, as
`gingee serve --workers N` does): the series every worker recorded, merged by prometheus-client's
multiprocess collector from the files in that folder (requests in flight included: each worker publishes
its own, see `series.publish_in_flight`), plus build info and queue depth from the worker answering.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import ProcessCollector
from prometheus_client.core import Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from .series import MULTIPROC_ENV, REGISTRY, LiveCollector, publish_in_flight


def multiprocess_dir() -> str | None:
    """The multiprocess folder if prometheus-client's multiprocess mode is on, else None."""
    return os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower()) or None


class Scrape:
    """Every series one scrape reports (a prometheus-client collector)."""

    def __init__(self) -> None:
        self.live = LiveCollector()
        self.process = ProcessCollector(registry=None)

    async def refresh(self) -> None:
        """Read the values that need awaiting (queue depths) before `collect`; in multiprocess mode, publish
        this process's requests in flight so the merged gauge holds its current share."""
        if multiprocess_dir() is not None:
            publish_in_flight()
        await self.live.refresh()

    def collect(self) -> Iterator[Metric]:
        """Yield every metric family of the scrape."""
        path = multiprocess_dir()
        if path is not None:
            yield from MultiProcessCollector(None, path=path).collect()
            yield from self.live.collect(in_flight=False)
        else:
            yield from REGISTRY.collect()
            yield from self.process.collect()
            yield from self.live.collect()


SCRAPE = Scrape()


async def exposition(accept: str | None = None) -> tuple[bytes, str]:
    """The scrape body and its content type: Prometheus text 0.0.4, or OpenMetrics if `accept` asks."""
    await SCRAPE.refresh()
    encoder, content_type = choose_encoder(accept or "")
    return encoder(SCRAPE), content_type
