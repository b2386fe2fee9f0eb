"""Check Prop. 1 numerically on a sequence space: p_ARM[M(r)] = p_EBM[R_r], M⁻¹(M(r)) = r, log Z = V(root).

Builds a space, draws random token-level rewards r, maps them to logits q = M(r) with one backward sweep,
and compares against brute-force enumeration over every sequence:

  python experiments/check_bijection.py                       # V=8, T=4 with EOS (585 responses), float64
  python experiments/check_bijection.py --vocab-size 4 --horizon 8 --no-eos --float32

Exits non-zero if an identity fails its tolerance (1e-10 in float64, 1e-4 in float32).
"""

from __future__ import annotations

import argparse
import sys
import time

import jax


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--vocab-size", type=int, default=8, help="content tokens V (default 8)")
  parser.add_argument("--horizon", type=int, default=4, help="horizon T, EOS included (default 4)")
  parser.add_argument("--eos", action=argparse.BooleanOptionalAction, default=True,
                      help="EOS-terminated responses (default) or fixed length (--no-eos)")
  parser.add_argument("--scale", type=float, default=1.0, help="std of the random rewards (default 1)")
  parser.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
  parser.add_argument("--float32", action="store_true", help="compute in float32 instead of float64")
  args = parser.parse_args(argv)

  if not args.float32:
    jax.config.update("jax_enable_x64", True)
  import jax.numpy as jnp

  import armebm_jax as ae

  dtype = jnp.float32 if args.float32 else jnp.float64
  tolerance = 1e-4 if args.float32 else 1e-10
  space = ae.SequenceSpace(args.vocab_size, args.horizon, args.eos)
  r = space.random_tables(jax.random.PRNGKey(args.seed), scale=args.scale, dtype=dtype)

  start = time.perf_counter()
  q = jax.block_until_ready(ae.rewards_to_logits(r, space))
  sweep_s = time.perf_counter() - start

  log_z_root = ae.soft_values(q, space)[0][0]
  scores = ae.sequence_rewards(r, space)            # R_r(y) for every sequence (enumeration)
  log_z_enum = jax.nn.logsumexp(scores)
  log_p_arm = ae.sequence_log_probs(q, space)       # Π_t softmax(q)(y_t | s_t)
  log_p_ebm = scores - log_z_enum                   # exp R(y) / Z
  roundtrip = ae.sup_distance(ae.logits_to_rewards(q, space), r, space)
  # Rewards implied by the logits telescope along every path: Σ_t r_t = log p(y) + V(root).
  telescope = jnp.max(jnp.abs(ae.sequence_rewards(ae.logits_to_rewards(q, space), space)
                              - (log_p_arm + log_z_root)))

  rows = [
      ("max |log p_ARM[M(r)] − log p_EBM[R_r]|", float(jnp.max(jnp.abs(log_p_arm - log_p_ebm)))),
      ("|Σ p_ARM − 1|", float(abs(jnp.exp(log_p_arm).sum() - 1))),
      ("‖M⁻¹(M(r)) − r‖∞", float(roundtrip)),
      ("|V_q(root) − logsumexp_y R(y)|", float(abs(log_z_root - log_z_enum))),
      ("max |Σ_t r_t − (log p + V(root))|", float(telescope)),
      ("Prop. 3 certificate 2T‖M(r) − q‖∞ at q = M(r)", float(ae.kl_bound(q, r, space))),
  ]
  kind = "EOS-terminated" if space.eos else "fixed-length"
  print(f"Space: V={space.vocab_size}, T={space.horizon}, {kind}: {space.num_sequences:,} sequences, "
        f"{space.num_entries:,} state-action entries; {jnp.dtype(dtype).name}; reward std {args.scale}")
  print(f"log Z = V_q(root) = {float(log_z_root):.12f}   (enumeration: {float(log_z_enum):.12f})")
  print(f"M(r) by one backward sweep: {sweep_s * 1e3:.1f} ms (first call, compilation included)\n")
  width = max(len(name) for name, _ in rows)
  failed = False
  for name, value in rows:
    ok = value <= tolerance
    failed |= not ok
    print(f"  {name:<{width}}  {value:10.3e}  {'ok' if ok else 'FAIL'}")
  print(f"\nTolerance {tolerance:g}: {'all identities hold' if not failed else 'SOME IDENTITY FAILED'}.")
  return int(failed)


if __name__ == "__main__":
  sys.exit(main())
