"""Resolve `env:NAME` and `file:path` secret references in a loaded manifest.

The engine resolves them once at load; app code only ever sees the values. `file:` paths must lie
under one of the configured roots (resolved, so symlinks cannot leave them).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import SecretError


def resolve_secrets(
    value: Any,
    *,
    file_roots: Sequence[Path],
    environ: Mapping[str, str] | None = None,
    where: str = "",
) -> Any:
    """A copy of `value` with every `env:`/`file:` string replaced by what it points at."""
    env = os.environ if environ is None else environ
    if isinstance(value, dict):
        return {
            k: resolve_secrets(v, file_roots=file_roots, environ=env, where=f"{where}/{k}")
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            resolve_secrets(v, file_roots=file_roots, environ=env, where=f"{where}/{i}")
            for i, v in enumerate(value)
        ]
    if isinstance(value, str):
        if value.startswith("env:"):
            name = value[4:]
            if name not in env:
                raise SecretError(
                    f"at {where or '/'}: environment variable {name!r} is not set (referenced as {value!r})"
                )
            return env[name]
        if value.startswith("file:"):
            return _read_secret_file(value[5:], file_roots, where)
    return value


def _read_secret_file(raw: str, roots: Sequence[Path], where: str) -> str:
    resolved_roots = [r.resolve() for r in roots]
    candidate = Path(raw)
    candidates = [candidate] if candidate.is_absolute() else [r / candidate for r in resolved_roots]
    for path in candidates:
        real = path.resolve()
        if not any(real.is_relative_to(root) for root in resolved_roots):
            continue
        if real.is_file():
            return real.read_text("utf-8").strip()
    roots_text = ", ".join(str(r) for r in resolved_roots) or "(none configured)"
    raise SecretError(
        f"at {where or '/'}: secret file {raw!r} was not found under the secret roots {roots_text}; "
        "put it there or add its folder to gingee.json secrets.file_roots"
    )
