"""Every notebook runs top to bottom on a CPU, and the committed copy shows its outputs."""

import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIR = pathlib.Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = ["01_quickstart", "02_arm_vs_ebm", "03_values_from_your_lm", "04_distill_and_align"]


def test_the_notebooks_are_there():
  assert [p.stem for p in NOTEBOOKS] == EXPECTED


def _outputs(nb):
  return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_saved_with_figures_and_no_errors(path):
  nb = nbformat.read(path, as_version=4)
  outputs = _outputs(nb)
  assert not [o for o in outputs if o.output_type == "error"]
  assert any("image/png" in o.get("data", {}) for o in outputs), "no figure saved"
  assert all(c.execution_count is not None for c in nb.cells if c.cell_type == "code"), "not run"
  assert "find_spec(\"armebm_jax\")" in nb.cells[1].source  # the install cell comes first


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_top_to_bottom(path):
  nb = nbformat.read(path, as_version=4)
  NotebookClient(nb, timeout=300, kernel_name="python3",
                 resources={"metadata": {"path": str(path.parent)}}).execute()  # raises on error
  outputs = _outputs(nb)
  assert any("image/png" in o.get("data", {}) for o in outputs)
