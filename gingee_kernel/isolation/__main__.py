"""The isolated worker process: `python -I -m gingee_kernel.isolation` (started by process.py)."""

import sys

# With rfc3987_syntax installed (Jupyter pulls it in), importing jsonschema builds an IRI grammar that
# takes seconds; a worker checks no JSON Schema formats, so it does without
# (on the dev machine a worker's imports took 2.7 s with it, 0.7 s without).
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]

from .worker import main  # noqa: E402

main()
