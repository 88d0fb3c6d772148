"""`gingee new`: a project with one hello app, ready for `gingee serve --dev`."""

from __future__ import annotations

import json
from pathlib import Path

_HELLO_SCRIPT = '''"""GET /hello/greet?name=Ada -> {"message": "Hello, Ada!"}"""


async def handle(g):
    name = g.request.query.get("name", "world")
    g.response.send({"message": f"Hello, {name}!", "app": g.app.name})
'''

_INDEX = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Hello from Gingee</title></head>
<body>
  <h1>Hello from Gingee</h1>
  <p>Try <a href="greet?name=Ada">greet?name=Ada</a>: it runs <code>box/greet.py</code>.</p>
</body>
</html>
"""


def new_project(path: Path) -> Path:
    """Create `path` with gingee.json and web/hello; refuses to overwrite an existing project."""
    if (path / "gingee.json").exists():
        raise FileExistsError(f"{path / 'gingee.json'} already exists; choose an empty folder")
    box = path / "web" / "hello" / "box"
    box.mkdir(parents=True, exist_ok=True)
    (path / "gingee.json").write_text(
        json.dumps({"server": {"port": 7070}, "default_app": "hello"}, indent=2) + "\n"
    )
    (box / "app.json").write_text(json.dumps({"name": "hello", "version": "0.1.0"}, indent=2) + "\n")
    (box / "pmft.json").write_text(
        json.dumps({"permissions": {"mandatory": [], "optional": []}}, indent=2) + "\n"
    )
    (box / "greet.py").write_text(_HELLO_SCRIPT)
    (path / "web" / "hello" / "index.html").write_text(_INDEX)
    return path.resolve()
