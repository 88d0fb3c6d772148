"""One exposition from several processes: the Jupyter server's own series plus each live kernel's.

A notebook app runs in its kernel, so its requests, jobs and cache lookups are counted there. The kernel
serves its Gingee series on its secret port (`KERNEL_METRICS_PATH`); the Jupyter server's
`{base_url}gingee/metrics` reads them, parses them with prometheus-client's own parser and adds the
samples it does not have itself (a live app shadows the disk app of its name, so the app labels do not
overlap; process-wide series such as build info are the server's).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families

#: Where a kernel's live host answers with its metrics (a dot is never part of an app name).
KERNEL_METRICS_PATH = "/.gingee/metrics"
#: Only Gingee's own families travel from kernels (their process_* series would clash with the server's).
PREFIX = "gingee_"


class Merged:
    """A collector: the families of `own`, with the samples of `others` they lack added."""

    def __init__(self, own: Iterable[Metric], others: Iterable[str]) -> None:
        self.own = own
        self.others = list(others)

    def collect(self) -> Iterator[Metric]:
        """Yield every family once, samples deduplicated by (sample name, labels)."""
        families: dict[str, Metric] = {}
        seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        for family in self.own:
            families[family.name] = family
            seen.update((s.name, tuple(sorted(s.labels.items()))) for s in family.samples)
        for text in self.others:
            for family in text_string_to_metric_families(text):
                if not family.name.startswith(PREFIX):
                    continue
                target = families.get(family.name)
                if target is None:
                    target = families[family.name] = Metric(family.name, family.documentation, family.type)
                elif target.type != family.type:
                    continue  # another Gingee version declares it differently: keep the server's
                for sample in family.samples:
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    if key not in seen:
                        seen.add(key)
                        target.samples.append(sample)
        yield from families.values()
