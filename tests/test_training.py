"""Losses, exact risks, the training loop, kill-and-resume, multi-device, run-folder errors."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import armebm_jax as ae
from armebm_jax import losses, targets
from armebm_jax.models import TransformerARM, TransformerEBM
from armebm_jax.training import RunFolderError, TrainConfig, load_model, train, trapezoid_schedule
from tests import brute

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_trapezoid_schedule():
  s = trapezoid_schedule(1e-2, num_steps=1000, warmup_steps=100, decay_steps=100)
  np.testing.assert_allclose([s(0), s(50), s(100), s(500), s(900), s(950), s(1000)],
                             [0, 5e-3, 1e-2, 1e-2, 1e-2, 5e-3, 0], atol=1e-9)


@pytest.mark.parametrize("space", [ae.SequenceSpace(3, 3), ae.SequenceSpace(2, 4, eos=True)],
                         ids=["fix", "eos"])
def test_data_marginals_and_exact_arm_risk(space):
  t = targets.softmax_normal(space, jax.random.PRNGKey(0), 1.0)
  mu = losses.data_marginals(t.log_probs, space)
  want = brute.prefix_marginals(dict(zip(brute.all_sequences(space.vocab_size, space.horizon, space.eos),
                                         np.asarray(t.log_probs), strict=True)),
                                space.vocab_size, space.horizon, space.eos)
  for a, b in zip(mu, want, strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
  q = space.random_tables(jax.random.PRNGKey(1), dtype=jnp.float64)
  np.testing.assert_allclose(losses.arm_risk(q, t.log_probs, space),
                             -jnp.sum(t.probs * ae.sequence_log_probs(q, space)), rtol=1e-12)


def test_exact_arm_risk_from_tables_equals_teacher_forcing():
  """Transformer ARM: the risk from its state tables = Σ_y ρ(y) · per-sequence teacher-forcing NLL."""
  model = TransformerARM(vocab_size=3, horizon=3, num_layers=1, num_heads=2, dim=8, mlp_dim=8,
                         eos=True, rngs=nnx.Rngs(0))
  space = model.space
  t = targets.zipf(space)
  exact = losses.arm_risk(model.logit_tables(), t.log_probs, space)
  seqs = jnp.asarray(space.sequences())
  tv = ae.batch_token_values(model(seqs), seqs, eos_id=space.eos_id)
  per_sequence = -jnp.sum(tv.log_prob, axis=-1)
  np.testing.assert_allclose(exact, jnp.sum(t.probs * per_sequence), rtol=1e-5)
  # The minibatch estimate is the same average over a batch drawn from ρ.
  np.testing.assert_allclose(losses.arm_nll(model(seqs), seqs, eos_id=space.eos_id),
                             jnp.mean(per_sequence), rtol=1e-6)


def test_chunked_ebm_risk_equals_one_shot_with_gradients():
  model = TransformerEBM(vocab_size=3, horizon=3, num_layers=1, num_heads=1, dim=8, mlp_dim=8,
                         rngs=nnx.Rngs(1))
  space = model.space
  t = targets.softmax_normal(space, jax.random.PRNGKey(2), 0.5)
  seqs = jnp.asarray(space.sequences())
  one_shot = lambda m: losses.ebm_risk(m(seqs), t.log_probs)
  chunked = lambda m: losses.chunked_ebm_risk(m, seqs, t.log_probs, chunk_size=5)[0]  # 27 = 5·5 + 2
  v1, g1 = nnx.value_and_grad(one_shot)(model)
  v2, g2 = nnx.value_and_grad(chunked)(model)
  np.testing.assert_allclose(v1, v2, rtol=1e-6)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), g1, g2)
  log_z = losses.chunked_ebm_risk(model, seqs, t.log_probs, 4)[1]
  np.testing.assert_allclose(log_z, jax.nn.logsumexp(model(seqs)), rtol=1e-6)


def _small(**kw):
  base = dict(architecture="tabular", vocab_size=3, horizon=3, num_steps=1500, learning_rate=0.1,
              warmup_steps=50, decay_steps=200, eval_every=500, checkpoint_every=500)
  return TrainConfig(**(base | kw))


def test_tabular_pair_reaches_the_optimum_and_agrees_through_M(tmp_path):
  """Prop. 2 in function space: both gaps < 1e-5, and the ARM's tables = M(EBM rewards) after centring."""
  arm_cfg, ebm_cfg = _small(model="arm"), _small(model="ebm")
  arm_rows = train(arm_cfg, tmp_path / "arm", progress=False)
  ebm_rows = train(ebm_cfg, tmp_path / "ebm", progress=False)
  assert abs(arm_rows[-1]["gap"]) < 1e-5 and abs(ebm_rows[-1]["gap"]) < 1e-5
  arm, saved_cfg = load_model(tmp_path / "arm")
  ebm, _ = load_model(tmp_path / "ebm")
  assert saved_cfg == arm_cfg
  space = arm.space
  m = ae.rewards_to_logits(ae.scores_to_rewards(ebm.scores(), space), space)
  dist = ae.sup_distance(ae.center_logits(arm.logit_tables(), space), ae.center_logits(m, space),
                         space)
  assert dist < 5e-2, dist


def test_run_folder_errors_keep_what_was_written(tmp_path):
  cfg = _small(num_steps=300, warmup_steps=10, decay_steps=10, eval_every=100, checkpoint_every=100)
  run = tmp_path / "run"
  train(cfg, run, progress=False)
  before = {p: p.read_bytes() for p in (run / "config.json", run / "metrics.jsonl")}
  with pytest.raises(RunFolderError, match="different config"):
    train(_small(num_steps=301, warmup_steps=10, decay_steps=10), run, progress=False)
  with pytest.raises(RunFolderError, match="already holds this run"):
    train(cfg, run, progress=False)
  with pytest.raises(RunFolderError, match="nothing to resume"):
    train(cfg, tmp_path / "empty", resume=True, progress=False)
  for p, data in before.items():
    assert p.read_bytes() == data
  # A corrupt checkpoint: one clear line, not a traceback from orbax.
  for f in (run / "checkpoints" / "300").rglob("*"):
    if f.is_file():
      f.write_bytes(b"garbage")
  with pytest.raises(RunFolderError, match="checkpoint at step 300 .* could not be restored") as e:
    train(cfg, run, resume=True, progress=False)
  assert "\n" not in str(e.value)
  (tmp_path / "other").mkdir()
  (tmp_path / "other" / "notes.txt").write_text("mine")
  with pytest.raises(RunFolderError, match="holds no config.json"):
    train(cfg, tmp_path / "other", progress=False)
  assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


def test_killed_run_resumes_on_the_same_trajectory(tmp_path):
  args = ["--model", "arm", "--architecture", "transformer", "--vocab-size", "3", "--horizon", "3",
          "--num-layers", "1", "--num-heads", "2", "--dim", "8", "--mlp-dim", "8",
          "--num-steps", "1500", "--warmup-steps", "20", "--decay-steps", "100",
          "--eval-every", "10", "--checkpoint-every", "100", "--learning-rate", "3e-3"]
  killed = tmp_path / "killed"
  proc = subprocess.Popen([sys.executable, str(ROOT / "experiments" / "train.py"), "--out", str(killed),
                           "--no-progress", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
  metrics = killed / "metrics.jsonl"
  deadline = time.time() + 120
  last = 0
  while time.time() < deadline and proc.poll() is None:
    if metrics.exists():
      lines = metrics.read_text().splitlines()
      last = json.loads(lines[-1])["step"] if lines else 0
      if last >= 250:
        break
    time.sleep(0.01)
  assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read()[-500:]}"
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert 250 <= last < 1500
  # Resume the killed run (from its last checkpoint) and run the same config uninterrupted.
  import importlib.util
  spec = importlib.util.spec_from_file_location("train_cli", ROOT / "experiments" / "train.py")
  cli = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(cli)
  parsed = cli.build_parser().parse_args(["--out", str(killed), *args])
  cfg = TrainConfig(**{k: getattr(parsed, k) for k in TrainConfig.__dataclass_fields__})
  resumed = train(cfg, killed, resume=True, progress=False)
  fresh = train(cfg, tmp_path / "fresh", progress=False)
  assert [r["step"] for r in resumed] == [r["step"] for r in fresh]
  np.testing.assert_allclose([r["risk"] for r in resumed], [r["risk"] for r in fresh], rtol=1e-6)
  assert [json.loads(x)["step"] for x in (killed / "metrics.jsonl").read_text().splitlines()] == \
      [r["step"] for r in fresh]


def test_eight_devices_give_the_same_losses_as_one():
  script = textwrap.dedent("""
      import json, sys, tempfile
      import jax
      from armebm_jax.training import TrainConfig, train
      assert jax.device_count() == 8, jax.devices()
      out = {}
      for model in ("arm", "ebm"):
        for n in (1, 8):
          cfg = TrainConfig(model=model, vocab_size=2, horizon=4, num_layers=1, num_heads=2, dim=8,
                            mlp_dim=8, num_steps=20, warmup_steps=2, decay_steps=2, eval_every=5,
                            checkpoint_every=20, num_devices=n, learning_rate=1e-2)
          rows = train(cfg, tempfile.mkdtemp(), progress=False)
          out[f"{model}{n}"] = [r["risk"] for r in rows]
      print(json.dumps(out))
  """)
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
  done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-2000:]
  out = json.loads(done.stdout.strip().splitlines()[-1])
  for model in ("arm", "ebm"):
    assert len(out[f"{model}1"]) == 5
    np.testing.assert_allclose(out[f"{model}8"], out[f"{model}1"], rtol=1e-5)
    assert out[f"{model}1"][-1] < out[f"{model}1"][0]  # it trains
