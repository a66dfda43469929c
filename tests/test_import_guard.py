"""The core must not pull in any framework, plotting or progress library at import."""

import subprocess
import sys

HEAVY = ("torch", "jax", "keras", "matplotlib", "tqdm", "tensorflow", "plotext", "sklearn")


def test_import_cyclr_loads_no_framework() -> None:
    code = (
        "import sys, cyclr, cyclr.schedules, cyclr.rangetest, cyclr.plot\n"
        f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"import cyclr loaded: {out}"


def _module_imports() -> dict[str, set[str]]:
    """Each cyclr module -> the cyclr modules it imports at run time (lazy ones too).

    Imports under ``if TYPE_CHECKING:`` are left out (they never run); so are a package's
    imports of its own submodules and a submodule's of its package, which Python resolves
    without a circle.
    """
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "src"
    files = {}
    for path in (root / "cyclr").rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        package = parts[-1] == "__init__"
        files[".".join(parts[:-1] if package else parts)] = (path, package)
    graph: dict[str, set[str]] = {}
    for name, (path, package) in files.items():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                node.body = []
        targets = []
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")[: len(name.split(".")) - node.level + package]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                targets += [base, *(f"{base}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                targets += [alias.name for alias in node.names]
        graph[name] = set()
        for target in targets:
            while target not in files and "." in target:
                target = target.rsplit(".", 1)[0]
            inside = target.startswith(name + ".") and package
            parent = name.startswith(target + ".") and target in files and files[target][1]
            if target in files and target != name and not inside and not parent:
                graph[name].add(target)
    return graph


def test_no_import_circle_between_modules() -> None:
    graph = _module_imports()
    assert "cyclr.rangetest.fit" in graph["cyclr.rangetest.reading"]  # the reader works
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError("import circle: " + " -> ".join([*path, module]))
        if module not in done:
            for target in sorted(graph[module]):
                visit(target, [*path, module])
            done.add(module)

    for module in sorted(graph):
        visit(module, [])
