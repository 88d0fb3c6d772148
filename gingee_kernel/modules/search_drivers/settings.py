"""An app's indexes: each app.json `search[]` entry over gingee.json `search` (the operator's defaults),
and the driver each one needs. Both files were schema-checked and their secrets resolved at load.

sqlite (the default) keeps the index in the app's SQLite database named by `db` (else the app's first
SQLite database, else `box/data/search.sqlite`), so `index(..., tx=tx)` can share the app's transaction.
postgres keeps it in the app's PostgreSQL database named by `db` (else the first). elasticsearch and
opensearch take `url` and credentials from their section; a `url` the app set itself must pass egress.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from ...engine.app import AppRuntime
from ...errors import ModuleConfigError
from ..egress import vet_app_endpoint
from .base import IndexSpec, SearchDriver

DEFAULTS: dict[str, Any] = {
    "driver": "sqlite",
    "timeout_ms": 10_000,
    "elasticsearch": {},
    "opensearch": {},
    "queue": {"attempts": 5, "backoff_ms": 2000},
}
_SECTIONS = ("elasticsearch", "opensearch", "queue")
_SPEC_KEYS = ("name", "fields", "filters", "stored")
_STATE_KEY = "search.settings"


@dataclass(frozen=True)
class IndexSettings:
    """The effective config of one index of one app, and what the app itself set."""

    spec: IndexSpec
    values: dict[str, Any]
    app_supplied: dict[str, Any]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def driver(self) -> str:
        return str(self.values["driver"])

    @property
    def timeout(self) -> float:
        return float(self.values["timeout_ms"]) / 1000

    def section(self, name: str) -> dict[str, Any]:
        return dict(self.values.get(name) or {})

    @property
    def where(self) -> str:
        return f"web/{self.spec.app}/box/app.json search[{self.name!r}]"


def index_names(app: AppRuntime) -> list[str]:
    return [entry["name"] for entry in app.config.get("search") or []]


def index_settings(app: AppRuntime, name: object) -> IndexSettings:
    """The settings of index `name`; ModuleConfigError naming the declared ones. Once per loaded app."""
    if not isinstance(name, str):
        raise TypeError(f"search: an index name is a str, not {type(name).__name__}")
    cache: dict[str, IndexSettings] = app.state.setdefault(_STATE_KEY, {})
    settings = cache.get(name)
    if settings is not None:
        return settings
    entries = {entry["name"]: entry for entry in app.config.get("search") or []}
    entry = entries.get(name)
    if entry is None:
        known = ", ".join(repr(n) for n in entries) or "none"
        raise ModuleConfigError(
            f"app '{app.name}' has no search index named {name!r} (declared: {known}); add "
            f'{{"name": "{name}", "fields": {{"title": {{}}}}}} to the "search" list of '
            f"web/{app.name}/box/app.json"
        )
    settings = cache[name] = _merge(app, entry)
    return settings


def _merge(app: AppRuntime, own: dict[str, Any]) -> IndexSettings:
    values = copy.deepcopy(DEFAULTS)
    server = app.server_config.get("search") or {}
    for layer in (server, {k: v for k, v in own.items() if k not in _SPEC_KEYS}):
        for key, value in layer.items():
            if key in _SECTIONS and isinstance(value, dict):
                values[key] = {**(values.get(key) or {}), **value}
            else:
                values[key] = value
    fields = {field: float((options or {}).get("weight", 1)) for field, options in own["fields"].items()}
    spec = IndexSpec(
        app.name, own["name"], fields, tuple(own.get("filters") or ()), tuple(own.get("stored") or ())
    )
    return IndexSettings(spec, values, own)


async def create_driver(app: AppRuntime, settings: IndexSettings) -> SearchDriver:
    """The driver `settings` names, ready for its first call (tables or the engine's index created)."""
    driver = settings.driver
    if driver in ("sqlite", "postgres"):
        from .sql import open_sql_driver

        return await open_sql_driver(app, settings)
    if driver in ("elasticsearch", "opensearch"):
        section = settings.section(driver)
        if not section.get("url"):
            raise ModuleConfigError(
                f'{settings.where}: the {driver} driver needs "{driver}": {{"url": "https://..."}} in '
                'the entry or in gingee.json "search"'
            )
        if "url" in (settings.app_supplied.get(driver) or {}):
            await vet_app_endpoint(
                app.server_config, section["url"], f"search[{settings.name!r}].{driver}.url", "search"
            )
        try:
            from .elastic import open_elastic_driver
        except ImportError as exc:  # the client is an extra
            raise ModuleConfigError(
                f"{settings.where}: the {driver} driver is not installed ({exc}); "
                f"pip install 'gingee[{driver}]'"
            ) from None
        return await open_elastic_driver(settings, section)
    raise ModuleConfigError(
        f"{settings.where}.driver is {driver!r}; use sqlite, postgres, elasticsearch or opensearch"
    )
