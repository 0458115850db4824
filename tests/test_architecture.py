"""Import contracts of the package, checked by an AST scan of every module under raypipe/ (imports inside
functions included): Ray only in the Ray-facing modules, no module importing the top-level `raypipe` package, no
import cycle; and importing the math packages loads neither Ray nor (for the losses) transformers."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "raypipe"

# The only modules that may import Ray. Everything else is pure torch/numpy and is tested without Ray.
RAY_FACING = {
    "raypipe.runtime",  # connect to / start Ray, Ray Data settings
    "raypipe.mining.ray_runner",  # the mining stages on Ray actor pools and Ray tasks
    "raypipe.mining.ray_pool",  # the driver-fed actor pool those stages run on
    "raypipe.train.ray_driver",  # the Ray Train V2 TorchTrainer
    "raypipe.train.ray_worker",  # what each Ray Train worker runs (report, get_checkpoint)
    "raypipe.tune.driver",  # the Ray Tune Tuner: search space, scheduler, search algorithm, restore
    "raypipe.tune.trial",  # one trial: a Ray Train run reporting to Tune (TuneReportCallback)
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        parts = path.relative_to(PKG.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, imported names) for every import statement of a file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.ImportFrom):
            raise AssertionError(f"{path}: relative import; use absolute raypipe.* imports")
    return out


def _edges(name: str) -> set[str]:
    """The raypipe modules `name` imports: `from a.b import c` -> a.b.c when that is a module, else a.b."""
    out = set()
    for module, names in _imports(MODULES[name]):
        if not module.startswith("raypipe"):
            continue
        subs = {f"{module}.{n}" for n in names if f"{module}.{n}" in MODULES}
        out |= subs if subs and len(subs) == len(names) else subs | {module}
    return out - {name}


def test_ray_only_in_ray_facing_modules():
    offenders = sorted(name for name, path in MODULES.items()
                       if any(m == "ray" or m.startswith("ray.") for m, _ in _imports(path))
                       and name not in RAY_FACING)
    assert not offenders, f"modules importing Ray outside {sorted(RAY_FACING)}: {offenders}"
    assert RAY_FACING <= set(MODULES), "a Ray-facing module named here no longer exists"


def test_no_module_imports_the_top_level_package():
    offenders = sorted(name for name, path in MODULES.items() if name != "raypipe"
                       and any(m == "raypipe" for m, _ in _imports(path)))
    assert not offenders, f"import the defining submodule instead of `raypipe`: {offenders}"


def test_no_import_cycles():
    graph = {name: _edges(name) & set(MODULES) for name in MODULES}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_math_packages_do_not_import_ray():
    code = ("import sys, raypipe.losses, raypipe.mining, raypipe.eval, raypipe.data, raypipe.config, raypipe.tune, "
            "raypipe.tune.results, raypipe.tune.plots, raypipe.tune.plan, raypipe.tune.outputs, raypipe.storage; "
            "bad = [m for m in ('ray',) if m in sys.modules]; assert not bad, bad; "
            "import raypipe.losses as _; print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-2000:]


def test_losses_import_without_transformers():
    code = "import sys, raypipe.losses; assert 'transformers' not in sys.modules; print('ok')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-2000:]
