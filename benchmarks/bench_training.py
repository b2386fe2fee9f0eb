"""Training throughput of full-batch exact-risk training, and the cost of the pieces it is built from.

  python benchmarks/bench_training.py            # the paper's four configurations + tabular pair
  python benchmarks/bench_training.py --quick    # (8, 4) N=2 and the tabular pair only

Reports, all measured in one run on this machine:
  * steps/s of ``make_trainer(cfg).run_steps`` (Adam steps in one compiled loop) for ARM and EBM
    Transformers in N=2/3 × (V,T)=(8,4)/(4,8), compile time separately, and the projected time of the
    paper's 5,000 steps;
  * the tabular ARM/EBM pair on (8, 4): time of 3,000 Adam steps each after compilation;
  * the ARM's state-tree evaluation (V^(T-1) prefixes) against one pass per sequence (V^T);
  * the compiled temporary memory of the EBM risk gradient on (4, 8), one-shot vs chunked.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
from flax import nnx

from armebm_jax import losses
from armebm_jax.models import state_covering_prefixes
from armebm_jax.training import TrainConfig, make_model, make_space, make_target, make_trainer

PAPER_SIZES = {2: dict(num_layers=2, num_heads=2, dim=16, mlp_dim=16),
               3: dict(num_layers=3, num_heads=4, dim=64, mlp_dim=64)}


def time_steps(cfg: TrainConfig, min_seconds: float = 2.0) -> dict:
  t = make_trainer(cfg)
  start = time.perf_counter()
  state, loss = t.run_steps(t.state, t.batch, 1)
  jax.block_until_ready(loss)
  compile_s = time.perf_counter() - start
  n, elapsed = 1, 0.0
  while elapsed < min_seconds and n <= 4096:  # grow the number of steps until the run is long enough
    start = time.perf_counter()
    state, loss = t.run_steps(state, t.batch, n)
    jax.block_until_ready(loss)
    elapsed = time.perf_counter() - start
    if elapsed < min_seconds:
      n *= 4
  return dict(compile_s=compile_s, steps_per_s=n / elapsed, steps=n)


def tree_vs_per_sequence(V: int, T: int, N: int) -> float:
  """Time of the ARM forward on the V^(T-1) prefixes over its forward on all V^T sequences."""
  cfg = TrainConfig(vocab_size=V, horizon=T, **PAPER_SIZES[N])
  model = make_model(cfg)
  graphdef, state = nnx.split(model)
  fwd = jax.jit(lambda state, x: nnx.merge(graphdef, state)(x))
  space = make_space(cfg)
  prefixes = state_covering_prefixes(space)
  everything = jnp.asarray(space.sequences())
  out = []
  for x in (jnp.asarray(prefixes), everything):
    jax.block_until_ready(fwd(state, x))
    start = time.perf_counter()
    for _ in range(5):
      jax.block_until_ready(fwd(state, x))
    out.append((time.perf_counter() - start) / 5)
  return out[0] / out[1]


def ebm_memory(chunk_sizes=(0, 4096, 1024)) -> list[tuple[int, float]]:
  """Compiled temporary bytes of ∇ exact EBM risk on (4, 8), N=2, one-shot (0) or chunked."""
  cfg = TrainConfig(model="ebm", vocab_size=4, horizon=8, **PAPER_SIZES[2])
  model = make_model(cfg)
  target = make_target(cfg)
  seqs = jnp.asarray(make_space(cfg).sequences())
  graphdef, state = nnx.split(model)
  out = []
  for chunk in chunk_sizes:
    def risk(state, chunk=chunk):
      m = nnx.merge(graphdef, state)
      if chunk:
        return losses.chunked_ebm_risk(m, seqs, target.log_probs, chunk)[0]
      return losses.ebm_risk(m(seqs), target.log_probs)
    compiled = jax.jit(jax.grad(risk)).lower(state).compile()
    out.append((chunk, compiled.memory_analysis().temp_size_in_bytes / 2**20))
  return out


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true", help="(8, 4) N=2 and the tabular pair only")
  args = parser.parse_args(argv)
  configs = [(8, 4, 2)] if args.quick else [(8, 4, 2), (4, 8, 2), (8, 4, 3), (4, 8, 3)]
  print(f"jax {jax.__version__}, backend {jax.default_backend()}, {jax.device_count()} device(s)\n")
  print("| (V, T) | N | model | compile (s) | steps/s | 5,000 steps (min) |")
  print("|---|---|---|---|---|---|")
  for V, T, N in configs:
    for model in ("arm", "ebm"):
      r = time_steps(TrainConfig(model=model, vocab_size=V, horizon=T, **PAPER_SIZES[N]))
      print(f"| ({V}, {T}) | {N} | {model} | {r['compile_s']:.1f} | {r['steps_per_s']:.1f} "
            f"| {5000 / r['steps_per_s'] / 60:.1f} |", flush=True)
  print("\n| tabular (8, 4) | 3,000 Adam steps after compilation (s) |")
  print("|---|---|")
  for model in ("arm", "ebm"):
    r = time_steps(TrainConfig(model=model, architecture="tabular"), min_seconds=0.3)
    print(f"| {model} | {3000 / r['steps_per_s']:.3f} |", flush=True)
  ratio = tree_vs_per_sequence(8, 4, 2)
  print(f"\nARM forward on the 512 state-covering prefixes / on all 4,096 sequences, (8, 4) N=2: "
        f"{ratio:.3f}")
  if not args.quick:
    print("\n| EBM (4, 8) N=2, ∇ exact risk | compiled temporaries (MiB) |")
    print("|---|---|")
    for chunk, mib in ebm_memory():
      print(f"| {'one shot' if chunk == 0 else f'chunks of {chunk}'} | {mib:.1f} |")


if __name__ == "__main__":
  main()
