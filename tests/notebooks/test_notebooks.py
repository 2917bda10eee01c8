"""Notebooks run headless, top to bottom, against the test services."""
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import settings_env

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_notebook_runs_without_errors(name, settings, db, monkeypatch):
    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MARKETREC_SAMPLE_USERS", "120")  # a small sample keeps the run short
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(o.output_type != "error" for cell in code_cells for o in cell.outputs)
    assert all(cell.execution_count for cell in code_cells)  # every cell ran
