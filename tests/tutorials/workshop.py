"""The workshop series as the tests run it: each notebook executed once per test session in a fresh kernel
(nbclient), either as it is handed out (its exercise cells left as the attendee finds them) or solved (each
exercise cell replaced by its solution from notebooks/solutions/<notebook>.py).

An exercise is a code cell tagged `exercise` whose metadata names it (`"gingee": {"exercise": "<id>"}`);
the cell after it, tagged `check`, ends with a `gk.check(app)...` expression. A solutions file holds one
block per exercise, each opened by a `# %% exercise: <id>` line.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]-*.ipynb"))
SOLUTIONS = REPO / "notebooks" / "solutions"
_BLOCK = re.compile(r"^# %% exercise: *(\S+) *$", re.MULTILINE)


@dataclass
class Run:
    """One executed notebook and the folder it ran in (what it exported is there)."""

    nb: nbformat.NotebookNode
    workdir: Path

    def code_cells(self) -> list[nbformat.NotebookNode]:
        return [c for c in self.nb.cells if c.cell_type == "code"]

    def errors(self) -> list[dict]:
        return [o for c in self.code_cells() for o in c.outputs if o.output_type == "error"]

    def checks(self) -> list[str]:
        """The plain-text output of every check cell, in order."""
        return [plain(c) for c in self.code_cells() if "check" in c.metadata.get("tags", [])]

    def outputs_by_cell(self) -> dict[str, str]:
        """Each code cell's plain-text outputs, by the cell's first line."""
        return {c.source.splitlines()[0]: plain(c) for c in self.code_cells() if c.source}


def plain(cell: nbformat.NotebookNode) -> str:
    return "".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in cell.outputs
    )


def exercise_id(cell: nbformat.NotebookNode) -> str | None:
    if cell.cell_type != "code" or "exercise" not in cell.metadata.get("tags", []):
        return None
    return str(cell.metadata.get("gingee", {}).get("exercise") or "")


def exercises(nb: nbformat.NotebookNode) -> list[str]:
    """The ids of the notebook's exercises, in order."""
    return [i for i in map(exercise_id, nb.cells) if i is not None]


def solutions(notebook: Path) -> dict[str, str]:
    """The solution of each exercise of `notebook`, by id (empty when it has no solutions file)."""
    path = SOLUTIONS / f"{notebook.stem}.py"
    if not path.exists():
        return {}
    text = path.read_text()
    marks = list(_BLOCK.finditer(text))
    return {
        mark.group(1): text[mark.end() : marks[i + 1].start() if i + 1 < len(marks) else len(text)].strip(
            "\n"
        )
        for i, mark in enumerate(marks)
    }


def solve(nb: nbformat.NotebookNode, notebook: Path) -> nbformat.NotebookNode:
    """`nb` with each exercise cell's source replaced by its solution."""
    answers = solutions(notebook)
    for cell in nb.cells:
        ident = exercise_id(cell)
        if ident is not None:
            cell.source = answers[ident]
    return nb


def execute(notebook: Path, workdir: Path, *, solved: bool) -> Run:
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(notebook, workdir / notebook.name)
    nb = nbformat.read(workdir / notebook.name, as_version=4)
    if solved:
        solve(nb, notebook)
    NotebookClient(
        nb, kernel_name="python3", timeout=180, resources={"metadata": {"path": str(workdir)}}
    ).execute()
    return Run(nb, workdir)
