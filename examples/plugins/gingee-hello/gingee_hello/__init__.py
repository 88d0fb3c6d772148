"""gingee-hello: the smallest useful Gingee plugin.

Scripts of an app that names `gingee-hello` in app.json `plugins` (and is granted `plugin:hello`) use it as

    from gingee_kernel import plugins

    plugins.hello.greet("Ada")          # "Hello, Ada!" (or the app's configured greeting)
    plugins.hello.remember("a note")    # kept in the app's own box/data/plugins/hello/notes.txt
    plugins.hello.notes()               # ["a note"]
"""

from __future__ import annotations

from gingee_kernel.plugin_host.api import Module as BaseModule
from gingee_kernel.plugin_host.api import PluginContext


class Module(BaseModule):
    #: Apps need the grant "plugin:hello".
    permission = "hello"
    #: What an app may put in app.json `plugins.gingee-hello.config`.
    config_schema = {
        "type": "object",
        "properties": {"greeting": {"type": "string"}},
        "additionalProperties": False,
    }

    def __init__(self, context: PluginContext) -> None:
        super().__init__(context)
        self.greeting = context.config.get("greeting", "Hello")

    def greet(self, name: str) -> str:
        """The greeting for `name`; counted as `gingee_plugin_events_total{event="greeted"}`."""
        self.context.count("greeted")
        return f"{self.greeting}, {name}!"

    def remember(self, note: str) -> None:
        """Append a line to this app's notes file (in its own data folder, created on first use)."""
        self.context.data_dir.mkdir(parents=True, exist_ok=True)
        with (self.context.data_dir / "notes.txt").open("a", encoding="utf-8") as file:
            file.write(note.replace("\n", " ") + "\n")

    def notes(self) -> list[str]:
        """Every line remember() wrote for this app."""
        path = self.context.data_dir / "notes.txt"
        return path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
