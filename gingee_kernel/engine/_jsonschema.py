"""jsonschema, imported without its optional `rfc3987_syntax`: import jsonschema from here.

When `rfc3987` is missing and `rfc3987_syntax` is installed (Jupyter's packages pull it in through
`jsonschema[format-nongpl]`), importing jsonschema imports it to register the "iri" and "iri-reference"
format checks, and that import builds a Lark grammar: about 1 s of `gingee serve`'s start. We lose
nothing without it: we never pass a `format_checker`, so documents' formats are not asserted, and the
meta-schemas `check_schema` checks schemas against use only "uri", "uri-reference" and "regex" formats.

If jsonschema is already imported (a Jupyter server imports it before loading our extension), or something
already imported or refused `rfc3987_syntax` (the isolation worker does), this changes nothing.
"""

from __future__ import annotations

import sys

if "jsonschema" in sys.modules or "rfc3987_syntax" in sys.modules:
    import jsonschema
else:
    sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # makes its import an ImportError
    try:
        import jsonschema
    finally:
        del sys.modules["rfc3987_syntax"]

from jsonschema import Draft202012Validator, SchemaError, ValidationError

__all__ = ["Draft202012Validator", "SchemaError", "ValidationError", "jsonschema"]
