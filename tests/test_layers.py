"""The import graph of app/: no circle, and imports only go down the layers.

Layers, top to bottom (a module may import its own layer and the ones below):
the factory; the API and the CLI; the Celery tasks; the pipelines they run; the
domain (marketplace, recommendations, the model registry, job records); storage;
pure code (engines, RL, NCF and its training maths, the data-set loaders, the wire format);
leaves (errors, names, the dump's keys)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"

# Longest matching prefix wins.
LAYERS = {
    "app": 8,
    "app.api": 7, "app.cli": 7, "app.dashboard": 7,
    "app.celery_app": 6, "app.tasks": 6, "app.health": 6, "app.broker_transport": 6,
    "app.lost_jobs": 5, "app.job_signals": 5, "app.diagnostics": 5,
    "app.pipelines": 5,
    "app.marketplace": 4, "app.recommendations": 4, "app.model_registry": 4, "app.recommendation_log": 4,
    "app.experiment_registry": 4,
    "app.jobs": 4,  # a job's record, and enqueueing a task by name (app/queues.py)
    "app.config": 4,
    "app.storage": 3, "app.offload": 3, "app.redis_clients": 3,
    "app.engines": 2, "app.rl": 2, "app.training": 2, "app.schema_check": 2, "app.wire": 2,
    "app.sample_data": 2, "app.experiments": 2,
    "app.observability": 2,
    "app.errors": 1, "app.version": 1, "app.queues": 1, "app.progress": 1, "app.dump_contract": 1,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = ROOT / name.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(path: Path) -> set[str]:
    """The app modules `path` imports, wherever in the file (a function-level import counts)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "app":
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if is_module(child) else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "app")
    return found


def import_graph() -> dict[str, set[str]]:
    return {module_name(path): imports_of(path) - {module_name(path)} for path in APP.rglob("*.py")}


def layer(module: str) -> int:
    prefixes = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    return LAYERS[max(prefixes, key=len)]


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle through each module that is on one (depth-first search)."""
    found, done, path = [], set(), []

    def visit(module):
        if module in path:
            found.append(path[path.index(module):] + [module])
            return
        if module in done:
            return
        path.append(module)
        for imported in sorted(graph.get(module, ())):
            visit(imported)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    return found


def test_app_imports_make_no_circle():
    assert circles(import_graph()) == []


def test_imports_only_go_down_the_layers():
    upward = sorted(f"{module} ({layer(module)}) imports {imported} ({layer(imported)})"
                    for module, imported_set in import_graph().items() for imported in imported_set
                    if module != "app" and layer(imported) > layer(module))
    assert upward == []


def test_the_checks_find_a_circle_and_an_upward_import():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert layer("app.engines.ncf") < layer("app.storage.jobs") < layer("app.api.health")
    assert layer("app.pipelines.ncf") > layer("app.training.ncf")
