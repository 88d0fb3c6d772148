"""An app's mail settings: gingee.json `mail` (the operator's defaults) with the app's app.json `mail` over
it, and the driver they configure. Both files were schema-checked and their `env:`/`file:` references
resolved at load; nothing here resolves a reference, and nothing a call passes reaches this.

An endpoint the operator set (gingee.json) is trusted. One the app set itself (smtp host, sendgrid
api_base, ses endpoint_url in app.json) must pass the egress policy, as `httpclient` URLs do, so granting
`mail` does not also grant a way to reach the metadata service or a private network.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from ...engine.app import AppRuntime
from ...errors import ModuleConfigError
from ..egress import EgressPolicy, EgressTransport, vet_app_endpoint
from .base import MailDriver

DEFAULTS: dict[str, Any] = {
    "driver": "console",
    "max_attachment_bytes": 10 * 1024 * 1024,
    "timeout_ms": 15_000,
    "outbox_size": 50,
    "queue": {"attempts": 5, "backoff_ms": 2_000},
}
_SECTIONS = ("smtp", "sendgrid", "ses", "queue")
_EXTRAS = {"smtp": "mail", "ses": "ses"}
_STATE_KEY = "mail.settings"


@dataclass(frozen=True)
class MailSettings:
    """The effective `mail` config of one app, and which driver options the app itself supplied."""

    values: dict[str, Any]
    app_supplied: dict[str, Any]

    @property
    def driver(self) -> str:
        return str(self.values["driver"])

    @property
    def timeout(self) -> float:
        return self.values["timeout_ms"] / 1000

    def section(self, name: str) -> dict[str, Any]:
        return dict(self.values.get(name) or {})

    def from_app(self, section: str, key: str) -> bool:
        """Whether app.json (not gingee.json) set `mail.<section>.<key>`."""
        return key in (self.app_supplied.get(section) or {})


def settings_for(app: AppRuntime) -> MailSettings:
    """The app's effective mail settings (worked out once per loaded app, fixed until reload)."""
    settings = app.state.get(_STATE_KEY)
    if settings is None:
        settings = app.state[_STATE_KEY] = _merge(app)
    return settings


def _merge(app: AppRuntime) -> MailSettings:
    server = app.server_config.get("mail") or {}
    own = app.config.get("mail") or {}
    values = copy.deepcopy(DEFAULTS)
    for layer in (server, own):
        for key, value in layer.items():
            if key in _SECTIONS and isinstance(value, dict):
                values[key] = {**(values.get(key) or {}), **value}
            else:
                values[key] = value
    return MailSettings(values, own)


async def create_driver(app: AppRuntime, settings: MailSettings) -> MailDriver:
    """The driver `settings` names, its endpoint vetted if the app supplied it."""
    kind = settings.driver
    where = f"web/{app.name}/box/app.json mail"
    try:
        if kind == "console":
            from .console import ConsoleDriver, outbox

            return ConsoleDriver(app.name, outbox(app.shared, app.name, settings.values["outbox_size"]))
        if kind == "smtp":
            from .smtp import SmtpDriver, SmtpSettings

            smtp = SmtpSettings.from_config(settings.section("smtp"))
            if settings.from_app("smtp", "host") or settings.from_app("smtp", "port"):
                scheme = "http" if smtp.security == "none" else "https"
                await _vet(app, f"{scheme}://{smtp.host}:{smtp.port}/", "mail.smtp.host")
            return SmtpDriver(smtp)
        if kind == "sendgrid":
            from .sendgrid import DEFAULT_API_BASE, SendGridDriver

            section = settings.section("sendgrid")
            if not section.get("api_key"):
                raise ModuleConfigError(
                    f'{where}: the sendgrid driver needs "sendgrid": {{"api_key": "env:SENDGRID_API_KEY"}}'
                )
            base = section.get("api_base") or DEFAULT_API_BASE
            transport = None
            if settings.from_app("sendgrid", "api_base"):
                policy = await _vet(app, base, "mail.sendgrid.api_base")
                transport = EgressTransport(policy)
            return SendGridDriver(section["api_key"], base, transport)
        if kind == "ses":
            from .ses import SesDriver

            section = settings.section("ses")
            if section.get("endpoint_url") and settings.from_app("ses", "endpoint_url"):
                await _vet(app, section["endpoint_url"], "mail.ses.endpoint_url")
            return SesDriver(section, settings.timeout)
    except ImportError as exc:
        raise ModuleConfigError(
            f"{where}: the {kind} driver is not installed ({exc}); pip install 'gingee[{_EXTRAS[kind]}]'"
        ) from None
    raise ModuleConfigError(f"{where}.driver is {kind!r}; use console, smtp, sendgrid or ses")


async def _vet(app: AppRuntime, url: str, key: str) -> EgressPolicy:
    return await vet_app_endpoint(app.server_config, url, key, "mail")
