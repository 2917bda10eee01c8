"""Engines and the training code are pure: importing them loads no web framework,
database driver or task queue, and nothing of the app above them."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("flask", "flask_restx", "mongoengine", "pymongo", "gridfs", "celery", "redis")
LEAVES = ("app.errors", "app.progress", "app.dump_contract")  # exceptions, the progress protocol, dump keys
# Each pure package and what of the app it may import.
PURE = {
    "app.engines": ("app.engines",),
    "app.training": ("app.training", "app.engines", *LEAVES),
    "app.rl": ("app.rl", "app.training", "app.engines", *LEAVES),
    "app.sample_data": ("app.sample_data", "app.rl", "app.training", "app.engines", *LEAVES),
    "app.experiments": ("app.experiments",),
}

# A fresh interpreter imports every module of a package the usual way and reports what got loaded.
PROBE = """
import importlib, json, pkgutil, sys
sys.path.insert(0, sys.argv[1])
package = importlib.import_module(sys.argv[2])
names = [m.name for m in pkgutil.walk_packages(package.__path__, sys.argv[2] + ".")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"modules": names, "loaded": sorted(sys.modules)}))
"""


def _import_every_module(package: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, str(ROOT), package], capture_output=True, text=True,
                          check=True, timeout=120)
    return json.loads(done.stdout)


@pytest.mark.parametrize("package", PURE)
def test_pure_modules_import_no_service_dependencies(package):
    report = _import_every_module(package)
    assert len(report["modules"]) >= 3
    loaded_roots = {name.split(".")[0] for name in report["loaded"]}
    assert not loaded_roots & set(FORBIDDEN)


@pytest.mark.parametrize("package, allowed", PURE.items())
def test_pure_modules_import_nothing_else_from_the_app(package, allowed):
    loaded = _import_every_module(package)["loaded"]
    others = [name for name in loaded if name.startswith("app.") and name not in allowed
              and not name.startswith(tuple(f"{prefix}." for prefix in allowed))]
    assert others == []


def test_the_probe_finds_the_modules_and_what_an_impure_package_loads():
    assert {"app.engines.base", "app.engines.session"} <= set(_import_every_module("app.engines")["modules"])
    assert "flask" in _import_every_module("app.pipelines")["loaded"]


def test_the_api_loads_no_torch():
    # Serving is numpy; torch would add about 200 MiB to every API worker (benchmarks/worker_memory.py).
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); from app import create_app; "
             "create_app({'APP_ENV': 'testing', 'MONGODB_URI': 'mongodb://127.0.0.1:9/none', 'API_TOKENS': [], "
             "'RECOMMENDATION_TOKENS': []}); print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe, str(ROOT)], capture_output=True, text=True, check=True,
                          timeout=120)
    assert done.stdout.strip() == "False", done.stderr
