"""An app's stores: each app.json `storage[]` entry over gingee.json `storage` (the operator's defaults),
and the driver each configures. An app with no `storage` list has one local store, "default".

Both files were schema-checked and their `env:`/`file:` references resolved at load. A local root set in
gingee.json may be anywhere (each app gets `<root>/<app>/<store>`); one set in app.json is relative to the
app's box and must stay inside it. An S3 endpoint the app set itself must pass the egress policy.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...engine.app import AppRuntime
from ...engine.sizes import parse_size
from ...errors import ModuleConfigError
from ..egress import vet_app_endpoint
from .base import StorageDriver

DEFAULT_STORE = "default"
DEFAULTS: dict[str, Any] = {
    "driver": "local",
    "max_object_size": None,
    "url_expires_s": 3600,
    "max_url_expires_s": 7 * 86400,  # S3's own cap for SigV4 presigned URLs
    "timeout_ms": 30_000,
    "local": {},
    "s3": {},
}
_SECTIONS = ("local", "s3")
_SERVER_ONLY = ("signing_key", "public_url")
_STATE_KEY = "storage.settings"


@dataclass(frozen=True)
class StoreSettings:
    """The effective config of one store of one app, and which keys the app itself set."""

    name: str
    values: dict[str, Any]
    app_supplied: dict[str, Any]

    @property
    def driver(self) -> str:
        return str(self.values["driver"])

    @property
    def max_object_size(self) -> int | None:
        value = self.values.get("max_object_size")
        return None if value is None else parse_size(value)

    def section(self, name: str) -> dict[str, Any]:
        return dict(self.values.get(name) or {})


def store_names(app: AppRuntime) -> list[str]:
    """The app's configured store names, in app.json order (["default"] if it declares none)."""
    entries = app.config.get("storage") or []
    return [e["name"] for e in entries] or [DEFAULT_STORE]


def store_settings(app: AppRuntime, name: str | None) -> StoreSettings:
    """The settings of store `name` (None: the app's first store); ModuleConfigError naming the
    configured ones. Worked out once per loaded app."""
    cache: dict[str, StoreSettings] = app.state.setdefault(_STATE_KEY, {})
    names = store_names(app)
    key = names[0] if name is None else name
    settings = cache.get(key)
    if settings is not None:
        return settings
    if not isinstance(key, str):
        raise TypeError(f"storage: a store name is a str, not {type(key).__name__}")
    entries = {e["name"]: e for e in app.config.get("storage") or []}
    if key not in entries and not (key == DEFAULT_STORE and not entries):
        known = ", ".join(repr(n) for n in names)
        raise ModuleConfigError(
            f"app '{app.name}' has no store named {key!r} (configured: {known}); add "
            f'{{"name": "{key}", "driver": "local"}} to the "storage" list of web/{app.name}/box/app.json'
        )
    settings = cache[key] = _merge(app, key, entries.get(key, {}))
    return settings


def _merge(app: AppRuntime, name: str, own: dict[str, Any]) -> StoreSettings:
    server = {k: v for k, v in (app.server_config.get("storage") or {}).items() if k not in _SERVER_ONLY}
    values = copy.deepcopy(DEFAULTS)
    for layer in (server, {k: v for k, v in own.items() if k != "name"}):
        for key, value in layer.items():
            if key in _SECTIONS and isinstance(value, dict):
                values[key] = {**(values.get(key) or {}), **value}
            else:
                values[key] = value
    return StoreSettings(name, values, own)


async def create_driver(app: AppRuntime, settings: StoreSettings) -> StorageDriver:
    """The driver `settings` names; its local root confined, its S3 endpoint vetted if the app set it."""
    where = f"web/{app.name}/box/app.json storage[{settings.name!r}]"
    if settings.driver == "local":
        from .local import LocalDriver
        from .signing import signed_url

        def signer(key: str, method: str, expires: int, content_type: str | None) -> str:
            return signed_url(app, settings.name, key, method, expires, content_type)

        return LocalDriver(_local_root(app, settings, where), settings.name, signer)
    if settings.driver == "s3":
        try:
            from .s3 import S3Driver, S3Settings
        except ImportError as exc:
            raise ModuleConfigError(
                f"{where}: the s3 driver is not installed ({exc}); pip install 'gingee[s3]'"
            ) from None
        section = settings.section("s3")
        if not section.get("bucket"):
            raise ModuleConfigError(f'{where}: the s3 driver needs "s3": {{"bucket": "..."}}')
        own = settings.app_supplied.get("s3") or {}
        if section.get("endpoint_url") and "endpoint_url" in own:
            await vet_app_endpoint(
                app.server_config,
                section["endpoint_url"],
                f"storage[{settings.name!r}].s3.endpoint_url",
                "storage",
            )
        timeout = settings.values["timeout_ms"] / 1000
        return S3Driver(S3Settings.from_config(section, timeout), app.name, settings.name)
    raise ModuleConfigError(f"{where}.driver is {settings.driver!r}; use local or s3")


def _local_root(app: AppRuntime, settings: StoreSettings, where: str) -> Path:
    own = (settings.app_supplied.get("local") or {}).get("root")
    if own is not None:
        if Path(own).is_absolute():
            raise ModuleConfigError(
                f"{where}.local.root is absolute ({own!r}); in app.json a root is relative to the app's box "
                "(an absolute root belongs in gingee.json storage.local.root)"
            )
        root = (app.box / own).resolve()
        if root == app.box or not root.is_relative_to(app.box):
            raise ModuleConfigError(
                f"{where}.local.root {own!r} resolves outside web/{app.name}/box; keep it inside the box"
            )
        return root
    server = (settings.section("local")).get("root")
    if server is not None:
        base = Path(server)
        if not base.is_absolute() and app.project_dir is not None:
            base = app.project_dir / base
        return base.resolve() / app.name / settings.name
    return app.box / "data" / "storage" / settings.name
