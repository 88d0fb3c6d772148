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


def test_use_plugin_refuses_in_the_cell_a_plugin_the_operator_has_not_allowed(app: App) -> None:
    """The allow-list is checked when the cell runs (the plugin itself is never imported), and the app keeps
    its last config. Plugins that are installed and allowed are tested on real wheels in tests/plugins."""
    before = dict(app.config)
    with pytest.raises(AppConfigError) as raised:
        app.use_plugin("gingee-not-allowed", ">=1,<2", greeting="Hej")
    assert raised.value.pointer == "/plugins"
    assert "'gingee-not-allowed' is not in gingee.json plugins.allow" in raised.value.expected
    assert "gingee plugins list PROJECT" in raised.value.expected
    assert app.config == before and "plugins" not in app.config
    with pytest.raises(AppConfigError, match="/plugins/gingee-x: expected string or object"):
        app.use_plugin("gingee-x", 2)  # type: ignore[arg-type]
