"""Train an ARM or EBM (Transformer or tabular) by exact full-batch risk minimisation; one run folder.

  python experiments/train.py --out runs/arm84 --model arm --architecture transformer
  python experiments/train.py --out runs/ebm84 --model ebm --num-steps 5000 --learning-rate 1e-2
  python experiments/train.py --out runs/arm84 --resume          # continue after a crash

Writes OUT/config.json, OUT/metrics.jsonl (step, risk, gap = risk − H(ρ), learning_rate, elapsed_s)
and OUT/checkpoints/. Problems with the run folder are reported in one line (exit code 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

HELP = {
    "model": "arm (causal, next-token logits) or ebm (non-causal, sequence score)",
    "architecture": "transformer (the paper's backbone) or tabular (one free parameter per entry)",
    "vocab_size": "content tokens V",
    "horizon": "horizon T (EOS included when --eos)",
    "eos": "EOS-terminated responses instead of fixed length",
    "num_layers": "Transformer blocks N",
    "num_heads": "attention heads H (must divide --dim)",
    "dim": "model width D",
    "mlp_dim": "MLP hidden width F",
    "target": "data distribution: zipf or softmax_normal",
    "zipf_exponent": "Zipf exponent (lexicographic rank order)",
    "temperature": "softmax-normal temperature",
    "target_seed": "seed of the softmax-normal draw",
    "seed": "seed of the parameter initialisation",
    "learning_rate": "peak Adam learning rate of the trapezoid schedule",
    "num_steps": "total Adam steps",
    "warmup_steps": "linear warm-up steps",
    "decay_steps": "linear decay steps at the end",
    "eval_every": "steps between exact-risk evaluations written to metrics.jsonl",
    "checkpoint_every": "steps between orbax checkpoints",
    "max_to_keep": "checkpoints kept",
    "chunk_size": "EBM Transformer: sequences per chunk of the exact risk (0: all at once)",
    "num_devices": "devices of the data-parallel mesh (0: all)",
}


def build_parser() -> argparse.ArgumentParser:
  from armebm_jax.training import TrainConfig

  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument("--out", required=True, help="run folder (created)")
  parser.add_argument("--resume", action="store_true", help="continue the run in --out")
  parser.add_argument("--overwrite", action="store_true", help="delete --out and start again")
  parser.add_argument("--no-progress", action="store_true", help="no progress bar")
  for field in dataclasses.fields(TrainConfig):
    flag = "--" + field.name.replace("_", "-")
    if field.type in ("bool", bool):
      parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=field.default,
                          help=HELP[field.name])
    else:
      kind = {"int": int, "float": float, "str": str}[field.type if isinstance(field.type, str)
                                                      else field.type.__name__]
      parser.add_argument(flag, type=kind, default=field.default, help=HELP[field.name])
  return parser


def main(argv: list[str] | None = None) -> int:
  from armebm_jax.training import RunFolderError, TrainConfig, train

  args = build_parser().parse_args(argv)
  cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
  try:
    rows = train(cfg, args.out, resume=args.resume, overwrite=args.overwrite,
                 progress=not args.no_progress)
  except (RunFolderError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  last = rows[-1]
  print(f"step {last['step']}: risk {last['risk']:.6f}, gap {last['gap']:.3e} -> {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
