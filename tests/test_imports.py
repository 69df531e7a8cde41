"""The packages' import graph has no cycle, counting imports inside functions too (a lazy import that
closes a loop is still a loop in the design: the registry loading its catalogue, the evidence pulling in
the pretrainer that pulled in the evidence). Read from the source with `ast`; nothing is imported."""
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("fzcore", "zoo", "hub", "recipes")
# The one allowed direction between the library and the hub: these zoo modules load or publish releases
# and import the hub (lazily) to do it; the hub imports nothing of zoo, and the shared core neither.
ZOO_MODULES_USING_THE_HUB = {"zoo.loading", "zoo.publishing", "zoo.pretrain.job"}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _targets(node, module: str, is_package: bool, modules) -> set[str]:
    """Modules of ours that one import statement names (`from pkg import mod` names pkg.mod)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    base = node.module or ""
    if node.level:
        anchor = module.split(".") if is_package else module.split(".")[:-1]
        anchor = anchor[:len(anchor) - node.level + 1]
        base = ".".join([*anchor, base] if base else anchor)
    out = set()
    for alias in node.names:
        if f"{base}.{alias.name}" in modules:
            out.add(f"{base}.{alias.name}")
        elif base in modules:
            out.add(base)
    return out


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges |= _targets(node, name, path.name == "__init__.py", modules)
        graph[name] = edges - {name}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each as a sorted list."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_walker_sees_lazy_imports_and_cycles():
    graph = import_graph()
    assert "zoo.spec" in graph["zoo.registry"] and "hub" in graph["zoo.loading"]  # a function-level import
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles (each group imports itself through the others): " + "; ".join(
        " <-> ".join(c) for c in cycles)


def test_the_library_never_imports_the_experiment():
    """`zoo.bench` (time-to-quality experiment, quickstart report) uses the library; the library (zoo, hub)
    never uses it, so loading, training and release metadata cannot depend on benchmark results."""
    graph = import_graph()
    library = [m for m in graph if m.split(".")[0] in ("zoo", "hub") and not m.startswith("zoo.bench")]
    offenders = {m: sorted(t for t in graph[m] if t.startswith("zoo.bench")) for m in library}
    assert not {m: t for m, t in offenders.items() if t}


def _edges_into(graph, source: str, target: str) -> dict[str, list[str]]:
    """{module of package `source`: its imports from package `target`}, only modules that have some."""
    found = {m: sorted(t for t in targets if t.split(".")[0] == target)
             for m, targets in graph.items() if m.split(".")[0] == source}
    return {m: t for m, t in found.items() if t}


def test_packages_import_in_one_direction():
    """fzcore (errors, atomic io, the facezoo home) sits under zoo and hub; the hub knows nothing of zoo
    (no module-level or lazy import: a run folder becomes an encoder on the zoo side), and zoo reaches the
    hub only from the modules that load or publish releases."""
    graph = import_graph()
    assert not _edges_into(graph, "hub", "zoo"), "hub imports zoo"
    assert not _edges_into(graph, "fzcore", "zoo") and not _edges_into(graph, "fzcore", "hub")
    zoo_to_hub = _edges_into(graph, "zoo", "hub")
    assert set(zoo_to_hub) <= ZOO_MODULES_USING_THE_HUB, {
        m: t for m, t in zoo_to_hub.items() if m not in ZOO_MODULES_USING_THE_HUB}
    assert "zoo.data.aligned_cache" not in zoo_to_hub and "fzcore.paths" in graph["zoo.data.aligned_cache"]
    assert _edges_into({"hub.x": {"zoo.runs"}}, "hub", "zoo") == {"hub.x": ["zoo.runs"]}  # the check can fail


@pytest.mark.parametrize("argv", [["-m", "recipes.encoders", "list"], ["-m", "recipes.cli", "encoders", "list"]])
def test_light_recipes_never_import_tensorflow(argv):
    """`python -m recipes.encoders list` ran under the name __main__, so it was not recognised as a light
    recipe and imported TensorFlow first (45.6 s against 0.49 s for `facezoo encoders list`). Python's own
    import log (`-X importtime`) says which modules a real run loaded."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-X", "importtime", *argv], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "mobilenet-face" in proc.stdout
    loaded = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "zoo.registry" in loaded   # the log is read right
    assert not {m for m in loaded if m.split(".")[0] in ("tensorflow", "keras")}
