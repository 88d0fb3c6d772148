"""The "Gingee" Jupyter kernel: ipykernel with the `gingee_kernel` IPython extension loaded on start.

`python -m gingee_kernel install [--user | --sys-prefix | --prefix P] [--name gingee]` writes the kernelspec
through jupyter_client's KernelSpecManager, so JupyterLab lists "Gingee (Python 3)".
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

NAME = "gingee"
DISPLAY_NAME = "Gingee (Python 3)"


def kernel_json(python: str | None = None) -> dict[str, Any]:
    """The kernel.json of the Gingee kernel for `python` (default: this interpreter)."""
    return {
        "argv": [
            python or sys.executable,
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
            "--ext=gingee_kernel",
        ],
        "display_name": DISPLAY_NAME,
        "language": "python",
        "metadata": {"debugger": True},
    }


def install(
    *, user: bool = False, prefix: str | Path | None = None, name: str = NAME, python: str | None = None
) -> Path:
    """Install the kernelspec (system-wide, for the user, or under `prefix`); returns its folder."""
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / name
        source.mkdir()
        (source / "kernel.json").write_text(json.dumps(kernel_json(python), indent=1) + "\n")
        _copy_logos(source)
        where = KernelSpecManager().install_kernel_spec(
            str(source), name, user=user, prefix=str(prefix) if prefix is not None else None
        )
    return Path(where)


def _copy_logos(target: Path) -> None:
    try:
        from ipykernel.kernelspec import RESOURCES
    except ImportError:  # pragma: no cover - ipykernel is what runs the kernel
        return
    for logo in Path(RESOURCES).glob("logo-*"):
        shutil.copy(logo, target / logo.name)
