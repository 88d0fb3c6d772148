"""`tutorial(name, solved=...)`: a workshop notebook run once per session (tests/tutorials/workshop.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .workshop import NOTEBOOKS, Run, execute


@pytest.fixture(scope="session")
def tutorial(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Run]:
    """Factory: `tutorial("02-background-jobs", solved=True)`, the executed notebook (cached)."""
    runs: dict[tuple[str, bool], Run] = {}

    def run(name: str, *, solved: bool = True) -> Run:
        key = (name.removesuffix(".ipynb"), solved)
        if key not in runs:
            (notebook,) = [p for p in NOTEBOOKS if p.stem == key[0]]
            folder = tmp_path_factory.mktemp(f"{key[0]}-{'solved' if solved else 'handed-out'}")
            runs[key] = execute(notebook, folder, solved=solved)
        return runs[key]

    return run
