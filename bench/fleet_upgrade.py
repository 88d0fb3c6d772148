"""How long until every node serves a new version: one deploy to a fleet node versus a deploy to each node.

Starts three `gingee serve` nodes (tests/cluster/fleet.py: each its own project folder and port, app `shop`
at 1.0.0) twice: once joined as a fleet over Redis (gingee.json `cluster`), once as three separate
servers. For each of `--rounds` new versions it measures, from the moment the deploy starts until every
node's `/shop/version` answers the new version:

- fleet: one `gingee deploy` (the operator API, `lifecycle.client.deploy`) to one node, rotating which;
- separate: `gingee deploy` to each node, one after the other (what an operator does without a fleet).

Prints the median and the slowest of each and the fleet/separate ratio of the medians.

Usage: python bench/fleet_upgrade.py [--rounds 5] [--redis redis://127.0.0.1:6379/9]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from gingee_kernel.lifecycle.client import deploy  # noqa: E402
from tests.cluster.fleet import TOKEN, Fleet  # noqa: E402


def converge(fleet: Fleet, version: str, timeout: float = 60.0) -> None:
    """Poll every node until all answer `version`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if fleet.versions() == [version] * len(fleet.nodes):
                return
        except Exception:  # a node between versions: ask again
            pass
        time.sleep(0.005)
    raise SystemExit(f"the nodes never all served {version}: {fleet.versions()}")


def run(root: Path, redis_url: str, rounds: int, *, joined: bool) -> list[float]:
    fleet = Fleet(root, redis_url, 3)
    if not joined:  # the same three servers, each on its own
        for node in fleet.nodes:
            config = json.loads((node.project / "gingee.json").read_text())
            config.pop("cluster")
            (node.project / "gingee.json").write_text(json.dumps(config))
    times = []
    try:
        fleet.start()
        for n in range(rounds):
            version = f"2.0.{n}"
            folder = fleet.app_folder(version)
            started = time.monotonic()
            targets = [fleet.nodes[n % 3]] if joined else fleet.nodes
            for node in targets:
                deploy(folder, node.url(), token=TOKEN)
            converge(fleet, version)
            times.append(time.monotonic() - started)
    finally:
        fleet.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/9")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gingee-fleet-bench-") as tmp:
        fleet = run(Path(tmp) / "fleet", args.redis, args.rounds, joined=True)
        separate = run(Path(tmp) / "separate", args.redis, args.rounds, joined=False)
    medians = {}
    for name, times in (("fleet: deploy to one node", fleet), ("separate: deploy to each node", separate)):
        medians[name] = statistics.median(times)
        slowest = max(times)
        print(f"{name:32} median {medians[name] * 1000:7.0f} ms  slowest {slowest * 1000:7.0f} ms")
    ratio = medians["fleet: deploy to one node"] / medians["separate: deploy to each node"]
    print(f"fleet/separate (median time until all 3 serve it): {ratio:.2f}")


if __name__ == "__main__":
    main()
