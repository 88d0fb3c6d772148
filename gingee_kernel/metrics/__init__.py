"""Gingee's Prometheus metrics.

- `series`: every metric, declared once, the `record_*` functions that count into them, and the live
  series computed at scrape time.
- `hooks`: the engine observer that records each finished request, and `install(engine)`.
- `export`: the host-neutral exposition, `await exposition(accept)`, one process or several.
- `http`: `/metrics` on `gingee serve`: who may scrape, the Tornado handler and its URL table.
- `merge`: the Jupyter server's exposition with each live kernel's series added.
- `read`: the series read back as plain numbers, for notebook dashboards.

This module imports nothing, so importing the package does not import prometheus-client: that reads
`PROMETHEUS_MULTIPROC_DIR` once, when it is first imported, and `gingee serve --workers N` sets it first.
"""
