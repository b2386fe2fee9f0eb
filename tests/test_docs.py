"""The API reference: docstrings with equations and examples, and a docs site that builds strictly."""

import inspect
import pathlib
import shutil
import subprocess
import sys

import pytest

import armebm_jax as ae
from armebm_jax import alignment, distill, losses, models, sampling, targets, training

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _public():
  seen = {}
  for module in (ae, alignment, distill, sampling, losses, targets, models, training):
    for name in module.__all__:
      obj = getattr(module, name)
      if inspect.ismodule(obj) or not (inspect.isfunction(obj) or inspect.isclass(obj)):
        continue
      seen[f"{obj.__module__}.{obj.__qualname__}"] = obj
  return seen


def test_every_public_function_and_class_has_a_docstring():
  missing = [name for name, obj in _public().items() if len(inspect.getdoc(obj) or "") < 40]
  assert not missing, f"no (or a one-phrase) docstring: {missing}"


def test_every_public_function_has_an_example():
  missing = [name for name, obj in _public().items()
             if inspect.isfunction(obj) and "Example" not in (inspect.getdoc(obj) or "")]
  assert not missing, f"no Example section: {missing}"


def test_docs_site_builds_without_warnings(tmp_path):
  # mkdocs comes with the test extra; next to this interpreter in a venv, else on PATH
  mkdocs = pathlib.Path(sys.executable).parent / "mkdocs"
  mkdocs = str(mkdocs) if mkdocs.exists() else shutil.which("mkdocs")
  assert mkdocs, "mkdocs is not installed: pip install -e '.[test]'"
  result = subprocess.run([mkdocs, "build", "--strict",
                           "--site-dir", str(tmp_path / "site")], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  assert (tmp_path / "site" / "api" / "bellman" / "index.html").exists()


def _example_code(doc: str) -> str:
  """The ``>>>`` / ``...`` lines of a docstring's Example section, as a script."""
  lines = []
  for line in doc.splitlines():
    s = line.strip()
    if s.startswith(">>> ") or s == ">>>":
      lines.append(s[4:])
    elif s.startswith("... ") or s == "...":
      lines.append(s[4:])
  return "\n".join(lines)


@pytest.mark.parametrize("name", sorted(n for n, o in _public().items() if inspect.isfunction(o)))
def test_examples_run(name):
  """Every example is self-contained: it runs with only ae, jax, jnp, np and nnx imported."""
  import jax
  import jax.numpy as jnp
  import numpy as np
  from flax import nnx

  code = _example_code(inspect.getdoc(_public()[name]))
  assert code, f"{name}: no >>> lines"
  exec(compile(code, f"<example of {name}>", "exec"), dict(ae=ae, jax=jax, jnp=jnp, np=np, nnx=nnx))
