"""Time the soft Bellman sweep (M and log Z) against its baselines, as ratios measured in one run.

Baselines, all on the same reward tables (float32):
  * fused lse  — one jitted ``jax.nn.logsumexp`` over a flat array with as many elements as the
                 tables: one pass of exp over every entry, the practical limit of a backward sweep;
  * row lse    — the same, reduced over rows of A actions (``axis=-1``), as a plain sweep would;
  * NumPy      — the same backward sweep written plainly in NumPy;
  * brute      — enumeration of every sequence: gather its rewards, sum, logsumexp (jitted), where
                 N·T stays below ~3e7.

  python benchmarks/bench_bellman.py            # V=8, T=4..8 and V=2, T=12..24
  python benchmarks/bench_bellman.py --quick    # small sizes only (a smoke run)

Compile time is reported separately; run times are medians over repeats after a warm-up call.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import armebm_jax as ae


def median_time(fn, min_total: float = 0.3, min_reps: int = 3, max_reps: int = 50) -> float:
  """Median wall time of ``fn()`` (which must block), after one warm-up call."""
  fn()
  times = []
  while len(times) < min_reps or (sum(times) < min_total and len(times) < max_reps):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def numpy_sweep(r: list[np.ndarray], space: ae.SequenceSpace) -> tuple[list[np.ndarray], float]:
  """The backward sweep q = M(r) in plain NumPy; returns (q tables, log Z)."""
  def lse(x):
    m = x.max(axis=-1, keepdims=True)
    return (np.log(np.exp(x - m).sum(axis=-1, keepdims=True)) + m)[..., 0]
  T, V = space.horizon, space.vocab_size
  q = [None] * T
  q[T - 1] = r[T - 1]
  for t in range(T - 2, -1, -1):
    child = lse(q[t + 1]).reshape(-1, V)
    if space.eos:
      child = np.concatenate([child, np.zeros((child.shape[0], 1), child.dtype)], axis=1)
    q[t] = r[t] + child
  return q, float(lse(q[0])[0])


def brute_log_partition_fn(space: ae.SequenceSpace):
  """log Z by enumerating every sequence: R(y) = Σ_t r_t[s_t, y_t] by gathers, then logsumexp."""
  seqs = jnp.asarray(space.sequences())
  idx = jax.vmap(space.state_indices)(seqs)
  lengths = jnp.asarray(space.sequence_lengths())

  @jax.jit
  def f(r):
    total = jnp.zeros(seqs.shape[0], r[0].dtype)
    for t in range(space.horizon):
      step = r[t][idx[:, t], seqs[:, t]]
      total = total + jnp.where(t < lengths, step, 0.0)
    return jax.nn.logsumexp(total)
  return f


def bench(space: ae.SequenceSpace, numpy_max_entries: int, brute_max_work: int) -> dict:
  rng = np.random.default_rng(0)
  r_np = [np.where(m, rng.standard_normal(m.shape), -np.inf).astype(np.float32)
          for m in space.valid_masks()]
  r = tuple(jnp.asarray(x) for x in r_np)
  n_entries, A = space.num_entries, space.num_actions

  m_fn = jax.jit(lambda r: ae.rewards_to_logits(r, space))
  z_fn = jax.jit(lambda r: ae.log_partition(r, space))
  lse_fn = jax.jit(lambda x: jax.nn.logsumexp(x))
  row_lse_fn = jax.jit(lambda x: jax.nn.logsumexp(x, axis=-1))
  x = jnp.asarray(rng.standard_normal((n_entries // A, A)), jnp.float32)

  start = time.perf_counter()
  m_compiled = m_fn.lower(r).compile()
  compile_m = time.perf_counter() - start
  start = time.perf_counter()
  z_compiled = z_fn.lower(r).compile()
  compile_z = time.perf_counter() - start
  lse_compiled = lse_fn.lower(x).compile()

  row = dict(V=space.vocab_size, T=space.horizon, eos=space.eos, entries=n_entries,
             sequences=space.num_sequences, compile_M_s=compile_m, compile_logZ_s=compile_z)
  row["M_ms"] = 1e3 * median_time(lambda: jax.block_until_ready(m_compiled(r)))
  row["logZ_ms"] = 1e3 * median_time(lambda: jax.block_until_ready(z_compiled(r)))
  row["lse_ms"] = 1e3 * median_time(lambda: jax.block_until_ready(lse_compiled(x)))
  row["row_lse_ms"] = 1e3 * median_time(lambda: jax.block_until_ready(row_lse_fn(x)))
  # Same answer as the NumPy sweep (a correctness check riding along with the timing).
  if n_entries <= numpy_max_entries:
    q_np, log_z_np = numpy_sweep(r_np, space)
    np.testing.assert_allclose(float(z_compiled(r)), log_z_np, rtol=1e-4)
    row["numpy_ms"] = 1e3 * median_time(lambda: numpy_sweep(r_np, space), min_total=0.5)
  if space.num_sequences * space.horizon <= brute_max_work:
    brute = brute_log_partition_fn(space)
    np.testing.assert_allclose(float(brute(r)), float(z_compiled(r)), rtol=1e-4)
    row["brute_ms"] = 1e3 * median_time(lambda: jax.block_until_ready(brute(r)))
  return row


def format_table(rows: list[dict]) -> str:
  head = ("| V | T | entries | sequences | compile M (s) | M (ms) | log Z (ms) | fused lse (ms) "
          "| row lse (ms) | M / fused lse | log Z / fused lse | NumPy sweep (ms) | NumPy / M "
          "| brute log Z (ms) | brute / log Z |")
  lines = [head, "|" + "---|" * (head.count("|") - 1)]
  opt = lambda x, spec: "—" if x is None else format(x, spec)
  for r in rows:
    numpy_ms, brute_ms = r.get("numpy_ms"), r.get("brute_ms")
    cells = [
        r["V"], r["T"], f"{r['entries']:,}", f"{r['sequences']:,}", f"{r['compile_M_s']:.2f}",
        f"{r['M_ms']:.3g}", f"{r['logZ_ms']:.3g}", f"{r['lse_ms']:.3g}", f"{r['row_lse_ms']:.3g}",
        f"{r['M_ms'] / r['lse_ms']:.2f}", f"{r['logZ_ms'] / r['lse_ms']:.2f}",
        opt(numpy_ms, ".3g"), opt(numpy_ms and numpy_ms / r["M_ms"], ".1f"),
        opt(brute_ms, ".3g"), opt(brute_ms and brute_ms / r["logZ_ms"], ".1f"),
    ]
    lines.append("| " + " | ".join(str(c) for c in cells) + " |")
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true", help="small sizes only (smoke run)")
  parser.add_argument("--eos", action="store_true", help="EOS-terminated spaces instead of fixed")
  args = parser.parse_args(argv)
  sizes = [(8, 3), (2, 8)] if args.quick else \
      [(8, T) for T in range(4, 9)] + [(2, T) for T in (12, 16, 20, 24)]
  rows = []
  for V, T in sizes:
    space = ae.SequenceSpace(V, T, eos=args.eos)
    rows.append(bench(space, numpy_max_entries=10**8, brute_max_work=3 * 10**7))
    r = rows[-1]
    print(f"V={V} T={T}: {r['entries']:,} entries, M {r['M_ms']:.3g} ms, "
          f"fused lse {r['lse_ms']:.3g} ms", flush=True)
  table = format_table(rows)
  print()
  print(f"jax {jax.__version__}, backend {jax.default_backend()}, {jax.device_count()} device(s), "
        f"float32, {'EOS' if args.eos else 'fixed-length'} spaces")
  print(table)
  return table


if __name__ == "__main__":
  main()
