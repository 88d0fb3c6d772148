"""Validation shared by create and update: errors are 422 with one message per field."""

from gingee_kernel import HttpError


def todo_fields(body, *, partial: bool) -> dict:
    """The title/done fields of a JSON body, or a 422 naming every bad field."""
    if not isinstance(body, dict):
        raise HttpError(422, "VALIDATION_FAILED", 'send a JSON object such as {"title": "Buy milk"}')
    errors: dict[str, str] = {}
    fields: dict = {}
    unknown = sorted(set(body) - {"title", "done"})
    if unknown:
        errors.update({key: "unknown field" for key in unknown})
    if "title" in body:
        title = body["title"]
        if not isinstance(title, str) or not title.strip():
            errors["title"] = "a non-empty string"
        elif len(title) > 200:
            errors["title"] = "at most 200 characters"
        else:
            fields["title"] = title.strip()
    elif not partial:
        errors["title"] = "required"
    if "done" in body:
        if not isinstance(body["done"], bool):
            errors["done"] = "true or false"
        else:
            fields["done"] = int(body["done"])
    if errors:
        raise HttpError(422, "VALIDATION_FAILED", "the todo is not valid", extra={"fields": errors})
    return fields


def todo_id(params: dict) -> int:
    """The :id route param as an int, or 404."""
    raw = params.get("id", "")
    if not raw.isdigit():
        raise HttpError(404, "TODO_NOT_FOUND", f"no todo with id {raw!r}")
    return int(raw)


def as_json(row: dict) -> dict:
    """A todo row as the API returns it."""
    return {"id": row["id"], "title": row["title"], "done": bool(row["done"])}
