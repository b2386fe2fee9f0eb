"""The main-job script and the benchmark run end to end on small sizes, so neither can rot."""

import importlib.util
import pathlib

import jax

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load(relpath):
  spec = importlib.util.spec_from_file_location(pathlib.Path(relpath).stem, ROOT / relpath)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_check_bijection_script(capsys):
  script = _load("experiments/check_bijection.py")
  assert script.main(["--vocab-size", "3", "--horizon", "3"]) == 0
  out = capsys.readouterr().out
  assert "all identities hold" in out and "log Z = V_q(root)" in out
  assert jax.config.jax_enable_x64  # float64 is the script's default (and the tests')
  assert script.main(["--vocab-size", "2", "--horizon", "4", "--no-eos", "--float32"]) == 0


def test_benchmark_quick_runs_and_checks_answers():
  bench = _load("benchmarks/bench_bellman.py")
  table = bench.main(["--quick"])
  lines = table.splitlines()
  assert len(lines) == 4 and lines[0].startswith("| V | T |")
  assert "| 8 | 3 |" in lines[2] and "| 2 | 8 |" in lines[3]
