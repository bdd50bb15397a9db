"""The package as users get it: installed with pip into a fresh venv (offline, against the system's torch), a typed
public API, and no import cycle inside it."""

import ast
import inspect
import os
import shutil
import subprocess
import sys
import venv

import rffconv

PYTHON_DIR = os.path.join(os.path.dirname(__file__), "..")
PACKAGE_DIR = os.path.join(PYTHON_DIR, "rffconv")

USE_INSTALLED = r"""
import importlib.metadata, os, sys, tempfile
import onnx, torch
from torch import nn
import rffconv
from rffconv import RffConv2d, export

assert os.path.realpath(rffconv.__file__).startswith(os.path.realpath(sys.prefix)), rffconv.__file__
assert importlib.metadata.version("rffconv") == rffconv.__version__
try:
    import rffconv.train_classifier
    raise AssertionError("the trainers are part of the installed package")
except ImportError:
    pass
model = nn.Sequential(RffConv2d(1, 4, 3, sigma=2.0, padding=1, seed=0), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
path = os.path.join(tempfile.mkdtemp(), "m.onnx")
proto = export(model, torch.zeros(1, 1, 8, 8), path)
onnx.checker.check_model(onnx.load(path))
assert [f.name for f in proto.functions] == ["RffConv"]
print("installed", rffconv.__version__)
"""


def test_pip_installs_the_package_into_a_venv_offline_and_it_exports(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    # A copy, so the in-place build leaves nothing in the repository.
    shutil.copytree(PACKAGE_DIR, source / "rffconv", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(PYTHON_DIR, name), source / name)
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    install = subprocess.run([python, "-m", "pip", "install", "--no-build-isolation", "--no-index", "--quiet", str(source)],
                             capture_output=True, text=True, env=clean, cwd=tmp_path)
    assert install.returncode == 0, install.stdout + install.stderr
    used = subprocess.run([python, "-c", USE_INSTALLED], capture_output=True, text=True, env=clean, cwd=tmp_path)
    assert used.returncode == 0, used.stdout + used.stderr
    assert "installed 1.0.0" in used.stdout


def _public_callables():
    for name in rffconv.__all__:
        item = getattr(rffconv, name)
        if inspect.isclass(item):
            for member in ("__init__", "forward"):
                if member in vars(item) or (member == "forward" and hasattr(item, member)):
                    yield f"{name}.{member}", getattr(item, member)
        elif callable(item):
            yield name, item


def test_the_public_api_has_type_hints():
    missing = []
    for name, function in _public_callables():
        signature = inspect.signature(function)
        for parameter in signature.parameters.values():
            if parameter.name != "self" and parameter.annotation is inspect.Parameter.empty:
                missing.append(f"{name}({parameter.name})")
        if signature.return_annotation is inspect.Signature.empty:
            missing.append(f"{name} -> ?")
    assert not missing, missing


def test_the_package_has_no_import_cycle():
    graph = {}
    for file in os.listdir(PACKAGE_DIR):
        if not file.endswith(".py"):
            continue
        module = file[:-3]
        tree = ast.parse(open(os.path.join(PACKAGE_DIR, file)).read())
        imported = set()
        for node in ast.walk(tree):  # function-level imports count too
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                imported.update([node.module] if node.module else [a.name for a in node.names])
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rffconv."):
                imported.add(node.module.split(".")[1])
        graph[module] = {m for m in imported if m != "__init__"}
    graph.pop("__init__")

    def visit(module, path):
        assert module not in path, " -> ".join(path + [module])
        for dependency in graph.get(module, ()):
            visit(dependency, path + [module])

    for module in graph:
        visit(module, [])
