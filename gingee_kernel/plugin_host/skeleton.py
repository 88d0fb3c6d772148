"""`gingee plugins new NAME`: write a working plugin distribution to start from.

`new_plugin("gingee-weather", Path("."))` writes `./gingee-weather/` with a `pyproject.toml` (hatchling,
the `gingee.modules` entry point `weather = "gingee_weather:Module"`), the package `gingee_weather/`, tests
using `gingee_kernel.plugin_host.testing.throwaway_app` and a README saying how to allow, grant, pin and
publish it.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path

# PEP 508 / the core metadata spec: what a distribution name may be.
DISTRIBUTION = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
MODULE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Names:
    """What a plugin called `distribution` is made of: `gingee-weather` -> module `weather` (entry point,
    `plugins.weather`, permission `weather`), package `gingee_weather`."""

    distribution: str
    module: str
    package: str


def names(name: str) -> Names:
    """The names a new plugin gets from its distribution name; ValueError if `name` cannot be one."""
    from packaging.utils import canonicalize_name

    if not DISTRIBUTION.match(name or ""):
        raise ValueError(
            f"{name!r} is not a valid distribution name: use letters, digits, '-', '_' and '.', starting "
            "and ending with a letter or digit (e.g. gingee-weather)"
        )
    distribution = str(canonicalize_name(name))
    module = distribution.removeprefix("gingee-").replace("-", "_")
    package = distribution.replace("-", "_")
    if not MODULE.match(module) or keyword.iskeyword(module) or not package.isidentifier():
        raise ValueError(
            f"{name!r} gives the module name {module!r}, which is not usable as `plugins.<module>`: after "
            "the leading 'gingee-', the name must start with a letter (e.g. gingee-weather -> weather)"
        )
    return Names(distribution, module, package)


def new_plugin(name: str, folder: Path | str) -> Path:
    """Write the plugin distribution `name` to `folder/<name>/` and return that folder.

    Raises ValueError for a bad name and FileExistsError if the folder exists (nothing is overwritten)."""
    n = names(name)
    target = Path(folder) / n.distribution
    if target.exists():
        raise FileExistsError(
            f"{target} already exists: `gingee plugins new` writes a new folder and overwrites nothing; "
            "choose another --dir or remove it"
        )
    files = {
        "pyproject.toml": PYPROJECT,
        f"{n.package}/__init__.py": MODULE_CODE,
        f"tests/test_{n.package}.py": TESTS,
        "README.md": README,
        ".gitignore": GITIGNORE,
    }
    target.mkdir(parents=True)
    for relative, template in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        text = (
            template.replace("@DIST@", n.distribution)
            .replace("@MODULE@", n.module)
            .replace("@PACKAGE@", n.package)
        )
        path.write_text(text, encoding="utf-8")
    return target


PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "@DIST@"
version = "0.1.0"
description = "A Gingee plugin: plugins.@MODULE@ for app scripts."
readme = "README.md"
requires-python = ">=3.10"
# Empty on purpose: a plugin runs inside the gingee server, which is already installed (and is what loads
# it). Listing "gingee" here would let pip upgrade or downgrade the server when the plugin is installed.
# List only the libraries the plugin itself imports.
dependencies = []

# What makes this distribution a Gingee plugin: scripts use `plugins.@MODULE@`.
[project.entry-points."gingee.modules"]
@MODULE@ = "@PACKAGE@:Module"

[tool.hatch.build.targets.wheel]
packages = ["@PACKAGE@"]
"""

MODULE_CODE = '''\
"""@DIST@: a Gingee plugin.

Scripts of an app that names `@DIST@` in app.json `plugins` (and is granted `plugin:@MODULE@`) use it as

    from gingee_kernel import plugins

    plugins.@MODULE@.greet("Ada")   # "Hello, Ada!" (or the app's configured greeting)
"""

from __future__ import annotations

from typing import Any, ClassVar

from gingee_kernel.plugin_host.api import Module as BaseModule
from gingee_kernel.plugin_host.api import PluginContext


class Module(BaseModule):
    """One instance per app that uses the plugin, made when the app loads (close() runs when it unloads)."""

    #: Apps need the grant "plugin:@MODULE@".
    permission = "@MODULE@"
    #: The JSON Schema of what an app may put in app.json `plugins.@DIST@.config`.
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"greeting": {"type": "string", "minLength": 1}},
        "additionalProperties": False,
    }

    def __init__(self, context: PluginContext) -> None:
        super().__init__(context)
        # context.config is this app's validated config section; context.data_dir its own data folder.
        self.greeting = context.config.get("greeting", "Hello")

    def greet(self, name: str) -> str:
        """The greeting for `name`; counted on /metrics as
        gingee_plugin_events_total{plugin="@MODULE@", event="greeted"}."""
        self.context.count("greeted")
        return f"{self.greeting}, {name}!"

    def close(self) -> None:
        """Release what the instance holds (connections, files). May be async."""
'''

TESTS = '''\
"""Tests for @DIST@, run with `pytest` (gingee and pytest installed)."""

from __future__ import annotations

import pytest
from gingee_kernel import plugins
from gingee_kernel.errors import ManifestError, PermissionDenied
from gingee_kernel.plugin_host.testing import throwaway_app

from @PACKAGE@ import Module


def test_greet_directly():
    with throwaway_app(Module) as t:
        assert t.module.greet("Ada") == "Hello, Ada!"


def test_greet_through_plugins_with_config():
    with throwaway_app(Module, {"greeting": "Hej"}) as t:
        assert t.call(lambda: plugins.@MODULE@.greet("Ada")) == "Hej, Ada!"


def test_needs_the_grant():
    with throwaway_app(Module, grant=False) as t, pytest.raises(PermissionDenied):
        t.call(lambda: plugins.@MODULE@.greet("Ada"))


def test_config_is_checked():
    with pytest.raises(ManifestError, match="greeting"), throwaway_app(Module, {"greeting": 3}):
        pass
'''

README = """\
# @DIST@

A Gingee plugin. App scripts use it as `plugins.@MODULE@`:

```python
from gingee_kernel import plugins


async def handle(g):
    g.response.send({"message": plugins.@MODULE@.greet(g.request.query.get("name") or "world")})
```

## Develop

```sh
pip install -e .          # into the environment gingee runs in
pytest                    # tests/ use gingee_kernel.plugin_host.testing.throwaway_app
```

## Use it in a project

1. Install it where the server runs: `pip install @DIST@` (or `pip install .`).
2. The operator allows it in `gingee.json`, pinned:

   ```json
   {"plugins": {"allow": {"@DIST@": {"version": ">=0.1,<1", "sha256": "..."}}}}
   ```

   `gingee plugins list PROJECT` prints the `sha256` to pin for the installed version.
3. The app names it in `web/APP/box/app.json` (the config is checked against `config_schema`):

   ```json
   {"plugins": {"@DIST@": {"version": ">=0.1,<1", "config": {"greeting": "Hej"}}}}
   ```

4. The app is granted its permission: `gingee grant PROJECT APP plugin:@MODULE@` (or
   `"mandatory": ["plugin:@MODULE@"]` in the app's `pmft.json`).
5. `gingee plugins check PROJECT` exits 1 if an app names a plugin that may not load.

## Publish

Version it with PEP 440: operators allow ranges, so a breaking change needs a new major version.

```sh
python -m pip install build twine
python -m build           # dist/@PACKAGE@-0.1.0-py3-none-any.whl and the sdist
python -m twine upload dist/*
```
"""

GITIGNORE = """\
__pycache__/
*.egg-info/
build/
dist/
"""
