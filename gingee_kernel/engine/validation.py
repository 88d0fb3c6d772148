"""Request bodies checked against a route's JSON Schema (routes.json `body` as a schema): 422 with the
JSON pointer of the first bad value, before any script or middleware runs."""

from __future__ import annotations

from typing import Any

from ..errors import HttpError
from ._jsonschema import Draft202012Validator, SchemaError
from .manifest import pointer_of

_validators: dict[int, tuple[dict[str, Any], Draft202012Validator]] = {}


def schema_problem(schema: dict[str, Any]) -> str | None:
    """Why `schema` is not a valid JSON Schema (2020-12), or None."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return exc.message
    return None


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    known = _validators.get(id(schema))
    if known is None or known[0] is not schema:
        known = _validators[id(schema)] = (schema, Draft202012Validator(schema))
    return known[1]


def check_body(schema: dict[str, Any], content_type: str, body: Any) -> None:
    """Raise 422 INVALID_BODY unless `body` (already parsed) is JSON matching `schema`."""
    if not (content_type == "application/json" or content_type.endswith("+json")):
        raise HttpError(
            422, "INVALID_BODY", "this route takes a JSON body (Content-Type: application/json)",
            extra={"pointer": ""},
        )  # fmt: skip
    error = next(iter(_validator(schema).iter_errors(body)), None)
    if error is not None:
        pointer = pointer_of(error)
        raise HttpError(
            422, "INVALID_BODY",
            f"the request body does not match the route's schema at {pointer or '/'}: {error.message[:300]}",
            extra={"pointer": pointer},
        )  # fmt: skip
