"""What export reads from a notebook: the top-level statements of its code cells, what each binds and needs.

Nothing here runs notebook code. A statement is an `import`, a `def`/`class`, a `literal` constant (literals,
and operators over literals and other names: `60 * 5`, `BASE + "/x"`), an `App(...)` assignment, an
expression (a call such as `app.use(...)` or `app.serve()`), or `runtime`: any other statement, whose
names exist only once the cell has run (a DataFrame, an open file, a loop's result).
"""

from __future__ import annotations

import ast
import builtins
import itertools
import json
import symtable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import GingeeError

BUILTINS = frozenset(dir(builtins)) | {"__file__"}
APP_DECORATORS = ("route", "job", "websocket")
#: Methods that change a list, dict or set in place (state a route keeps in a module-level literal).
MUTATORS = frozenset(
    {"append", "extend", "insert", "pop", "remove", "clear", "update", "setdefault", "popitem"}
    | {"add", "discard", "sort", "reverse"}
)


class ExportError(GingeeError):
    """The notebook cannot be exported as it is; the message names the name, the function and the cell."""

    def _render_traceback_(self) -> list[str]:
        return [f"ExportError: {self}"]


@dataclass(frozen=True)
class Cell:
    """One code cell: where it is (`cell 3`, `In [7]`, a file) and its Python source."""

    label: str
    source: str


@dataclass(eq=False)
class Stmt:
    """One top-level statement of a cell."""

    node: ast.stmt
    cell: Cell
    index: int
    kind: str
    binds: tuple[str, ...] = ()
    _needs: set[str] | None = field(default=None, repr=False)

    def segment(self, node: ast.AST | None = None) -> str:
        """The author's source text of `node` (default: the statement)."""
        return ast.get_source_segment(self.cell.source, node or self.node) or ast.unparse(node or self.node)


def python_source(raw: str) -> str:
    """Cell source with IPython syntax (`%magic`, `!cmd`, `x = !ls`, `%%cell`) turned into plain calls."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        lines = raw.splitlines()
        return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)
    return str(TransformerManager().transform_cell(raw))


def cells_from_file(path: Path) -> list[Cell]:
    """The code cells of a `.ipynb` notebook, or of a `.py` file in percent format (`# %%` cells)."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        return [
            Cell(f"cell {number}", python_source(_joined(cell.get("source", ""))))
            for number, cell in enumerate(cells, 1)
            if cell.get("cell_type") == "code"
        ]
    return split_percent(path.read_text(encoding="utf-8"), path.name)


def _joined(source: str | list[str]) -> str:
    return source if isinstance(source, str) else "".join(source)


def split_percent(source: str, name: str) -> list[Cell]:
    """A Python file as cells split at `# %%` lines (one cell, labelled `name`, when there are none)."""
    lines = source.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith("# %%")]
    if not starts:
        return [Cell(name, source)]
    bounds = [0, *starts, len(lines)] if starts[0] else [*starts, len(lines)]
    return [
        Cell(f"{name} cell {number}", "".join(lines[a:b]))
        for number, (a, b) in enumerate(itertools.pairwise(bounds), 1)
    ]


def is_app_call(value: ast.expr | None) -> bool:
    """True for `App(...)`, `gk.App(...)` and the like."""
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    return (isinstance(func, ast.Name) and func.id == "App") or (
        isinstance(func, ast.Attribute) and func.attr == "App"
    )


def app_decorator(node: ast.expr, app_vars: set[str]) -> tuple[str, str, ast.Call] | None:
    """(app variable, "route", "job" or "websocket", the call) for `@app.route(...)` and such, else None."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in APP_DECORATORS
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in app_vars
    ):
        return node.func.value.id, node.func.attr, node
    return None


def _target_names(target: ast.expr) -> list[str] | None:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        names: list[str] = []
        for element in target.elts:
            inner = _target_names(element)
            if inner is None:
                return None
            names += inner
        return names
    return None


_CONSTANT_NODES = (
    ast.Constant, ast.Tuple, ast.List, ast.Set, ast.Dict, ast.Name, ast.Load,
    ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.JoinedStr, ast.FormattedValue,
    ast.operator, ast.unaryop, ast.boolop, ast.cmpop,
)  # fmt: skip


def _is_constant(value: ast.expr | None, targets: list[str]) -> bool:
    """True for literals and operators over literals and other names (`60 * 5`, `BASE + "/x.db"`)."""
    if value is None:
        return False
    nodes = list(ast.walk(value))
    return all(isinstance(n, _CONSTANT_NODES) for n in nodes) and not any(
        isinstance(n, ast.Name) and n.id in targets for n in nodes
    )


def _bound_by(source: str) -> tuple[str, ...]:
    table = symtable.symtable(source, "<cell>", "exec")
    return tuple(
        s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported() or s.is_namespace()
    )


def classify(node: ast.stmt, source: str) -> tuple[str, tuple[str, ...]]:
    """(kind, names bound) of one top-level statement."""
    if isinstance(node, ast.Import):
        return "import", tuple((a.asname or a.name).split(".")[0] for a in node.names)
    if isinstance(node, ast.ImportFrom):
        return "import", tuple(a.asname or a.name for a in node.names)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return "def", (node.name,)
    if isinstance(node, ast.Expr):
        return "expr", ()
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = [_target_names(t) for t in targets]
        if all(n is not None for n in names):
            flat = tuple(name for group in names for name in group or [])
            if is_app_call(node.value):
                return "app", flat
            if _is_constant(node.value, list(flat)):
                return "literal", flat
    segment = ast.get_source_segment(source, node) or ast.unparse(node)
    try:
        return "runtime", _bound_by(segment)
    except SyntaxError:
        return "runtime", ()


class Notebook:
    """A notebook's top-level statements in order; `bindings` maps each name to its latest definition."""

    def __init__(self, cells: list[Cell], *, strict: bool = True) -> None:
        self.cells = cells
        self.statements: list[Stmt] = []
        self.bindings: dict[str, Stmt] = {}
        self.app_vars: set[str] = set()
        for cell in cells:
            try:
                tree = ast.parse(cell.source)
            except SyntaxError as exc:
                if strict:
                    raise ExportError(
                        f"{cell.label} is not valid Python (line {exc.lineno}): {exc.msg}"
                    ) from None
                continue  # a failed cell in the kernel's history defined nothing
            for node in tree.body:
                self.add(node, cell)

    def add(self, node: ast.stmt, cell: Cell, index: int | None = None) -> Stmt:
        """Record one statement; its names now refer to it."""
        kind, binds = classify(node, cell.source)
        stmt = Stmt(node, cell, len(self.statements) if index is None else index, kind, binds)
        self.statements.append(stmt)
        for name in binds:
            self.bindings[name] = stmt
            self.app_vars.discard(name)
        if kind == "app":
            self.app_vars |= set(binds)
        return stmt

    @property
    def future(self) -> list[Stmt]:
        """`from __future__ import ...` statements (they go first in every script)."""
        return [
            s for s in self.statements if isinstance(s.node, ast.ImportFrom) and s.node.module == "__future__"
        ]

    @property
    def star_imports(self) -> list[Stmt]:
        """`from x import *` statements: export cannot tell what they bind."""
        return [s for s in self.statements if s.kind == "import" and any(a.name == "*" for a in s.node.names)]  # type: ignore[attr-defined]

    def text(self, stmt: Stmt) -> str:
        """The statement as a script carries it: a def or class without its `@app.route`/`@app.job`."""
        node = stmt.node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return stmt.segment()
        kept = [d for d in node.decorator_list if app_decorator(d, self.app_vars) is None]
        return "".join(f"@{stmt.segment(d)}\n" for d in kept) + stmt.segment()

    def needs(self, stmt: Stmt) -> set[str]:
        """Global names the statement uses (at definition or at call time), minus what it binds itself."""
        if stmt._needs is None:
            if stmt.kind in ("def", "literal"):
                prefix = "".join(s.segment() + "\n" for s in self.future)
                stmt._needs = global_names(prefix + self.text(stmt)) - set(stmt.binds)
            else:
                stmt._needs = set()
        return stmt._needs


def global_names(source: str) -> set[str]:
    """Names `source` looks up in the module namespace: referenced at top level, or global inside."""
    table = symtable.symtable(source, "<export>", "exec")
    found = {s.get_name() for s in table.get_symbols() if s.is_referenced()}
    stack = list(table.get_children())
    while stack:
        child = stack.pop()
        stack.extend(child.get_children())
        found |= {s.get_name() for s in child.get_symbols() if s.is_global() or s.is_declared_global()}
    return found


def mutated_names(node: ast.AST) -> set[str]:
    """Names a def changes in place or rebinds: `global X`, `X[k] = v`, `del X[k]`, `X.append(v)`."""
    found: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Global):
            found |= set(sub.names)
        elif (
            isinstance(sub, ast.Subscript)
            and isinstance(sub.ctx, (ast.Store, ast.Del))
            and isinstance(sub.value, ast.Name)
        ):
            found.add(sub.value.id)
        elif (
            isinstance(sub, ast.Call)
            and isinstance(sub.func, ast.Attribute)
            and sub.func.attr in MUTATORS
            and isinstance(sub.func.value, ast.Name)
        ):
            found.add(sub.func.value.id)
    return found
