"""`app.use(...)`: module configs checked by app.json's own schema in the calling cell; an error names the
JSON pointer and the expected form, shows without a Python traceback, and leaves the app as it was."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gingee_kernel.notebook import App, AppConfigError


@pytest.fixture
def app() -> Iterator[App]:
    made = App("usecheck")
    yield made
    made.stop()


@pytest.mark.parametrize(
    ("module", "options", "pointer", "expected"),
    [
        ("db", {"type": "mongo"}, "/db/0/type", 'expected one of "sqlite", "postgres", "mysql", got "mongo"'),
        ("cache", {"ttl": "soon"}, "/cache/ttl", 'expected number, got string "soon"'),
        ("cache", {"max_entries": 100}, "/cache", "unknown key 'max_entries'; expected one of: prefix, ttl"),
    ],
)
def test_a_bad_module_config_names_the_key_and_the_expected_form(
    app: App, module: str, options: dict[str, Any], pointer: str, expected: str
) -> None:
    app.use("cache", prefix="shop:")
    before = dict(app.config)
    with pytest.raises(AppConfigError) as raised:
        app.use(module, **options)
    message = f"app.use({module!r}): at {pointer}: {expected}"
    assert (raised.value.pointer, raised.value.expected, str(raised.value)) == (pointer, expected, message)
    # What IPython shows in the cell instead of a traceback: the message alone.
    assert raised.value._render_traceback_() == [f"AppConfigError: {message}"]
    assert app.config == before  # the app keeps its last valid config
    assert app.use("cache", ttl=60).config["cache"] == {"prefix": "shop:", "ttl": 60}
