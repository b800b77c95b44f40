"""The package layout: imports run one way through the pipeline stages, with no circles and no reaching for
another module's private names (docs/ARCHITECTURE.md). Read from the source with `ast`, nothing imported."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Each layer may import the ones before it (and the shared base), never one after it.
LAYERS = ["rag.knowledge", "rag.corpus", "rag.index", "rag.query", "rag.retrieval", "rag.answer",
          "rag.flow", "rag.chain", "rag.pipeline", "rag.evaluation", "ui", "rag.serve", "rag.cli", "bench"]
BASE = ("rag.config", "rag.text", "rag.wordfreq", "rag.files", "rag")


def _modules() -> dict[str, Path]:
    out = {}
    for top in ("rag", "ui", "bench"):
        for f in (ROOT / top).rglob("*.py"):
            parts = list(f.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = f
    return out


MODULES = _modules()


def _imports(name: str, path: Path):
    """(target module, imported names, line) of every import of our own code in a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] not in ("rag", "ui", "bench"):
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                yield (sub if sub in MODULES else target), a.name, node.lineno
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in ("rag", "ui", "bench"):
                    yield a.name, "", node.lineno


def _layer(module: str) -> int | None:
    for i, prefix in enumerate(LAYERS):
        if module == prefix or module.startswith(prefix + "."):
            return i
    return None


def test_no_import_circles():
    graph = {m: {t for t, _, _ in _imports(m, p) if t in MODULES and t != m} for m, p in MODULES.items()}
    # Tarjan's strongly connected components: any component of two or more modules is a circle
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert not comps, f"import circles: {comps}"


def test_imports_run_one_way():
    wrong = []
    for m, p in MODULES.items():
        mine = _layer(m)
        for target, _, line in _imports(m, p):
            theirs = _layer(target)
            if mine is not None and theirs is not None and theirs > mine:
                wrong.append(f"{p.relative_to(ROOT)}:{line} {m} imports {target}")
            if mine is None and m not in BASE and theirs is not None:
                wrong.append(f"{p.relative_to(ROOT)}:{line} {m} (no layer) imports {target}")
            if m in BASE and m != "rag" and theirs is not None:
                wrong.append(f"{p.relative_to(ROOT)}:{line} shared module {m} imports {target}")
    assert not wrong, "imports against the flow:\n" + "\n".join(wrong)


def test_no_private_names_across_modules():
    wrong = [f"{p.relative_to(ROOT)}:{line} imports {name} from {target}"
             for m, p in MODULES.items() for target, name, line in _imports(m, p)
             if name.startswith("_") and not name.startswith("__") and target != m]
    assert not wrong, "\n".join(wrong)


def test_no_module_is_over_500_lines_and_the_top_level_is_small():
    long = [f"{p.relative_to(ROOT)}: {n}" for p in MODULES.values()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500]
    assert not long, f"modules over 500 lines: {long}"
    top = [p.name for p in (ROOT / "rag").glob("*.py")]
    assert len(top) <= 8, top


def test_imports_inside_functions_say_why():
    """An import inside a function is there to keep a cold start fast (or to break nothing else): the line
    before it, or the import line itself, says so in a comment."""
    missing = []
    for m, p in MODULES.items():
        src = p.read_text(encoding="utf-8").splitlines()
        tree = ast.parse("\n".join(src))
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in fn.body if False else ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    here = src[node.lineno - 1]
                    before = src[node.lineno - 2] if node.lineno >= 2 else ""
                    if "#" not in here and not before.strip().startswith("#"):
                        missing.append(f"{p.relative_to(ROOT)}:{node.lineno}")
    assert not missing, f"{len(missing)} imports inside functions without a reason: {missing[:20]}"
