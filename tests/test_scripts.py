"""The main-job script and the benchmark run end to end on small sizes, so neither can rot."""

import importlib.util
import pathlib
import sys

import jax

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load(relpath):
  spec = importlib.util.spec_from_file_location(pathlib.Path(relpath).stem, ROOT / relpath)
  module = importlib.util.module_from_spec(spec)
  sys.modules[spec.name] = module  # dataclasses look their module up here
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


def test_reproduce_tiny_writes_report_results_and_figures(tmp_path):
  script = _load("experiments/reproduce.py")
  assert script.main(["--tiny", "--out", str(tmp_path)]) == 0
  import json
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["bijection"]["max_abs_logp_diff"] < 1e-10
  assert results["bijection"]["roundtrip_residual"] < 1e-10
  keys = {"vocab_size", "horizon", "num_layers", "target", "seed", "learning_rate", "arm_final_gap",
          "ebm_final_gap", "before_map", "after_map", "kl_ebm_arm", "sup_norm", "kl_bound"}
  assert len(results["runs"]) == 2 and all(keys <= set(r) for r in results["runs"])
  for run in results["runs"]:
    assert run["kl_ebm_arm"] <= run["kl_bound"]
    assert run["after_map"] < run["before_map"]
  report = (tmp_path / "report.md").read_text()
  assert "| claim | paper | ours | holds |" in report
  # The identities and bounds must hold even in a 60-step run (η and noise rows are measurements).
  exact_rows = [line for line in report.split("## Figures")[0].splitlines()
                if line.startswith(("| Prop.", "| logits distance", "| Fig. 5"))]
  assert len(exact_rows) == 8 and not any("| NO" in line for line in exact_rows)
  assert [r["learning_rate"] for r in results["eta_sweep"]] == [0.1, 0.01]
  assert all(r["ebm_area"] > 0 and r["arm_area"] > 0 for r in results["eta_sweep"])
  (noise,) = results["gradient_noise"]
  assert 0 < noise["ebm_coherence"] <= 1 and 0 < noise["arm_coherence"] <= 1
  assert noise["ebm_gns"] > 0 and noise["arm_snr"] > 0
  distillation = results["distillation"]
  assert set(distillation["objectives"]["curves"]) == {"forward_kl", "forward_kl_exact", "reverse_kl",
                                                        "reverse_kl_exact", "soft_bellman"}
  for rows in distillation["objectives"]["curves"].values():
    assert rows[-1]["step"] == 20 and rows[-1]["forward_kl"] < rows[0]["forward_kl"]
    assert all(r["forward_kl"] <= r["certificate"] and r["reverse_kl"] <= r["certificate"] for r in rows)
  policies = distillation["lookahead"]["policies"]
  assert policies["EBM = ARM M(r) (exact)"]["success"] > 0.9 > 0.2 > policies["myopic softmax(r)"]["success"]
  assert "## Distillation and alignment" in report
  figures = sorted(p.name for p in (tmp_path / "figures").iterdir())
  assert figures == ["conversion_cost.png", "distill_lookahead.png", "distill_objectives.png",
                     "eta_curves.png", "eta_final_gap.png", "lookahead.png", "noise_V2T3N2.png",
                     "tabular_V2T3N2_zipf.png", "transformer_V2T3N2_zipf.png"]
  # Started again on the same folder, every run resumes from its checkpoints instead of retraining.
  assert script.main(["--tiny", "--out", str(tmp_path)]) == 0
