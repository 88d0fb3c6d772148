"""Read a JSON manifest and validate it against the schema shipped with the package.

Errors name the file, the JSON pointer of the bad value and what was expected, so an author can fix
the manifest without reading our code.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import ManifestError
from ._jsonschema import ValidationError, jsonschema

SCHEMAS = ("gingee", "app", "routes", "pmft", "gpkg", "gup", "package")
#: Definitions shared by several manifests (module sections such as `mail`), merged into each one's $defs.
SHARED = "modules"


def _schema_text(name: str) -> str:
    return resources.files(__package__).joinpath("schemas", f"{name}.schema.json").read_text("utf-8")


@functools.cache
def validator(kind: str) -> jsonschema.protocols.Validator:
    """The compiled validator for one manifest kind ("gingee", "app", "routes" or "pmft").

    The schemas ship with the package, so they are not checked against their meta-schema here (about 180 ms
    of every start): tests/engine/test_manifests.py checks each one."""
    schema = json.loads(_schema_text(kind))
    schema.setdefault("$defs", {}).update(json.loads(_schema_text(SHARED))["$defs"])
    return jsonschema.validators.validator_for(schema)(schema)


def read_json(path: Path, label: str | None = None) -> Any:
    """Parse a JSON file; a syntax error becomes a ManifestError naming the line and column."""
    label = label or str(path)
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(label, "", "a UTF-8 text file") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(
            label, "", f"valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from exc


def validate(kind: str, document: Any, label: str) -> None:
    """Raise a ManifestError for the first (most relevant) schema violation in `document`."""
    errors = sorted(validator(kind).iter_errors(document), key=_error_rank)
    if errors:
        error = errors[0]
        raise ManifestError(label, pointer_of(error), expected_of(error))


def load(kind: str, path: Path, label: str | None = None) -> Any:
    """Read and validate one manifest file."""
    label = label or str(path)
    document = read_json(path, label)
    validate(kind, document, label)
    return document


def pointer_of(error: ValidationError) -> str:
    """The JSON pointer (RFC 6901) of the value an error is about."""
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in error.absolute_path]
    return "".join("/" + p for p in parts)


def expected_of(error: ValidationError) -> str:
    """A sentence saying what the schema expected at the error's location."""
    kind = error.validator
    value = error.validator_value
    schema = error.schema if isinstance(error.schema, dict) else {}
    if kind == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        return f"unknown key {', '.join(map(repr, extra))}; expected one of: {', '.join(allowed)}"
    if kind == "required":
        missing = [k for k in value if isinstance(error.instance, dict) and k not in error.instance]
        return f"missing required key {', '.join(map(repr, missing))}"
    if kind == "type":
        types = value if isinstance(value, list) else [value]
        return f"expected {' or '.join(types)}, got {_json_type(error.instance)} {_short(error.instance)}"
    if kind == "enum":
        return f"expected one of {', '.join(json.dumps(v) for v in value)}, got {_short(error.instance)}"
    if kind == "pattern":
        wanted = schema.get("description") or f"a string matching {value}"
        return f"expected {wanted}, got {_short(error.instance)}"
    if (
        kind == "anyOf"
        and isinstance(value, list)
        and all(isinstance(b, dict) and ("enum" in b or "description" in b or "type" in b) for b in value)
    ):
        wanted = []
        for branch in value:
            if "enum" in branch:
                wanted.append("one of " + ", ".join(json.dumps(v) for v in branch["enum"]))
            elif branch.get("description"):
                wanted.append(branch["description"])
            else:
                wanted.append(str(branch["type"]))
        return f"expected {' or '.join(wanted)}, got {_json_type(error.instance)} {_short(error.instance)}"
    if kind in {"minimum", "maximum", "minLength", "minItems", "uniqueItems"}:
        return f"{error.message} ({kind} {json.dumps(value)})"
    return error.message


def _error_rank(error: ValidationError) -> tuple[int, int]:
    # Deepest first: "unknown key" at /db/0 is more useful than "not valid under any schema" at /.
    return (-len(error.absolute_path), 0 if error.validator != "anyOf" else 1)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
