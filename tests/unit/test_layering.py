"""Dependencies run one way, visible from folder names, with no import cycles.

cli -> api / sync -> control -> client -> engine -> {wal, memtable, slab, lsm,
compaction} -> storage -> core.  A package may import its own modules and those of
packages of a lower rank, never a higher or an equal other one.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
RANK = {
    "core": 0,
    "storage": 1, "embed": 1, "filters": 1, "query": 1,
    "wal": 2, "memtable": 2, "slab": 2, "lsm": 2,
    "compaction": 3,
    "engine": 4,
    "bulk": 4.5,
    "client": 5,
    "slabdb": 5.5,  # the package's own __init__: lazy exports of client and core
    "control": 6,
    "api": 7, "sync": 7, "check": 7,
    "spark": 7,  # slabdb.spark: a client of the embedded API and of served indexes
    "app": 7.5,  # the demo web app: over api/sync/control/client, under cli
    "cli": 8,
    "testing": 9,
}  # fmt: skip


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, top_level_only: bool) -> list[str]:
    """slabdb modules imported by ``path`` (all, or only those run at import time)."""
    tree = ast.parse(path.read_text())
    nodes = ast.walk(tree) if not top_level_only else _import_time_nodes(tree)
    out = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
            out += [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names]
    return [m for m in out if m == "slabdb" or m.startswith("slabdb.")]


def _import_time_nodes(tree: ast.Module) -> list[ast.stmt]:
    """Module-level statements, skipping ``if TYPE_CHECKING:`` blocks."""
    out: list[ast.stmt] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.unparse(stmt.test):
            continue
        out.append(stmt)
    return out


def _group(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else "slabdb"


def _sources() -> list[Path]:
    return [p for p in sorted((SRC / "slabdb").rglob("*.py")) if "/gen/" not in str(p)]


def test_every_package_has_a_rank() -> None:
    packages = {p.name for p in (SRC / "slabdb").iterdir() if (p / "__init__.py").exists()}
    assert packages <= set(RANK), f"give these packages a rank: {packages - set(RANK)}"
    loose = [p.name for p in (SRC / "slabdb").glob("*.py") if p.name != "__init__.py"]
    assert loose == [], f"modules outside a package blur the layering: {loose}"


def test_dependencies_run_one_way() -> None:
    wrong = []
    for path in _sources():
        mine = _group(_module_name(path))
        for target in _imports(path, top_level_only=False):
            theirs = _group(target)
            if theirs != mine and RANK[theirs] >= RANK[mine]:
                wrong.append(f"{_module_name(path)} imports {target} ({mine} -> {theirs})")
    assert not wrong, "\n".join(wrong)


def _resolved(imported: list[str], modules: set[str]) -> set[str]:
    """``from pkg import sub`` imports the module ``pkg.sub`` (not pkg's other names)."""
    out = {m for m in imported if m in modules}
    return {m for m in out if not any(o.startswith(m + ".") for o in out)} | {
        m for m in out if "." in m and m.rsplit(".", 1)[0] in out
    }


def test_no_import_cycles() -> None:
    modules = {_module_name(p): p for p in _sources()}
    graph = {
        name: _resolved(_imports(path, top_level_only=True), set(modules)) - {name}
        for name, path in modules.items()
    }
    done: set[str] = set()

    def visit(node: str, stack: list[str]) -> None:
        if node in stack:
            cycle = [*stack[stack.index(node) :], node]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if node in done:
            return
        for nxt in sorted(graph[node]):
            visit(nxt, [*stack, node])
        done.add(node)

    for name in sorted(graph):
        visit(name, [])
