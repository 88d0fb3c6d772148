"""Scrape a server's /metrics and read sample values with prometheus-client's own text parser."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass
class Scrape:
    """One parsed scrape: `value(sample_name, **labels)` is 0.0 for a sample that is absent."""

    text: str
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Scrape:
        scrape = cls(text)
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                scrape.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return scrape

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def moved(self, before: Scrape, name: str, **labels: str) -> float:
        """How much a sample grew since the scrape `before`."""
        return self.value(name, **labels) - before.value(name, **labels)

    def labelsets(self, name: str) -> list[dict[str, str]]:
        return [dict(labels) for sample, labels in self.samples if sample == name]


def scrape(client: httpx.Client, url: str, **headers: str) -> Scrape:
    """GET `url` (a server's /metrics), insist on 200, and parse it."""
    reply = client.get(url, headers=headers)
    assert reply.status_code == 200, reply.text
    assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return Scrape.parse(reply.text)
