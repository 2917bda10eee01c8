"""Engines are pure: importing them loads no web framework, database driver or task queue."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("flask", "flask_restx", "mongoengine", "pymongo", "celery", "redis")

# A fresh interpreter imports every engine module the usual way and reports what got loaded.
PROBE = """
import importlib, json, pkgutil, sys
sys.path.insert(0, sys.argv[1])
import app.engines
names = [m.name for m in pkgutil.walk_packages(app.engines.__path__, "app.engines.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"modules": names, "loaded": sorted(sys.modules)}))
"""


def _import_every_engine_module() -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, str(ROOT)], capture_output=True, text=True, check=True,
                          timeout=120)
    return json.loads(done.stdout)


def test_engine_modules_import_no_service_dependencies():
    report = _import_every_engine_module()
    assert "app.engines.base" in report["modules"] and "app.engines.session" in report["modules"]
    loaded_roots = {name.split(".")[0] for name in report["loaded"]}
    assert not loaded_roots & set(FORBIDDEN)


def test_engine_modules_import_nothing_else_from_the_app():
    loaded = _import_every_engine_module()["loaded"]
    others = [name for name in loaded if name.startswith("app.") and not name.startswith("app.engines")]
    assert others == []
