"""Full-batch exact-risk training of ARMs and EBMs (Blondel et al., 2026, Sec. 5, App. C).

One run writes one folder: ``config.json``, ``metrics.jsonl`` (one JSON object per evaluation),
``checkpoints/`` (orbax ``CheckpointManager``). A run killed mid-way and started again with
``resume=True`` restores the latest checkpoint (model and Adam state, against an abstract target) and
continues the same trajectory. The train step shards the batch of sequences over a ``data`` mesh axis
with parameters replicated, so one code path uses one CPU or every device of a GPU/TPU host.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from armebm_jax import losses, targets
from armebm_jax._progress import tqdm
from armebm_jax.models import (
    TabularARM,
    TabularEBM,
    TransformerARM,
    TransformerEBM,
    state_covering_prefixes,
    tables_from_prefix_logits,
)
from armebm_jax.spaces import SequenceSpace

__all__ = ["TrainConfig", "RunFolderError", "trapezoid_schedule", "make_space", "make_target",
           "make_model", "make_trainer", "Trainer", "train", "load_model"]


class RunFolderError(RuntimeError):
  """A run folder that cannot be used as asked (other config, nothing to resume, bad checkpoint)."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Everything that defines a run; saved as ``config.json``. Defaults: the paper's (8, 4), N=2 ARM."""

  model: str = "arm"                  # "arm" (next-token logits) or "ebm" (sequence scores)
  architecture: str = "transformer"   # "transformer" (paper backbone) or "tabular" (function space)
  vocab_size: int = 8
  horizon: int = 4
  eos: bool = False
  num_layers: int = 2
  num_heads: int = 2
  dim: int = 16
  mlp_dim: int = 16
  target: str = "zipf"                # "zipf" or "softmax_normal"
  zipf_exponent: float = 1.15
  temperature: float = 0.1
  target_seed: int = 0                # seed of the softmax-normal draw
  seed: int = 0                       # parameter initialisation
  learning_rate: float = 1e-2
  num_steps: int = 5000
  warmup_steps: int = 100
  decay_steps: int = 100
  eval_every: int = 100
  checkpoint_every: int = 500
  max_to_keep: int = 2
  chunk_size: int = 0                 # EBM Transformer: sequences per chunk of the exact risk (0: one shot)
  num_devices: int = 0                # devices of the data mesh (0: all)

  def validate(self) -> TrainConfig:
    choices = dict(model=("arm", "ebm"), architecture=("transformer", "tabular"),
                   target=("zipf", "softmax_normal"))
    for name, allowed in choices.items():
      if getattr(self, name) not in allowed:
        raise ValueError(f"{name}: expected one of {allowed}, got {getattr(self, name)!r}")
    for name in ("vocab_size", "horizon", "num_layers", "num_heads", "dim", "mlp_dim", "num_steps",
                 "eval_every", "checkpoint_every", "max_to_keep"):
      if getattr(self, name) < 1:
        raise ValueError(f"{name}: expected >= 1, got {getattr(self, name)}")
    for name in ("warmup_steps", "decay_steps", "chunk_size", "num_devices"):
      if getattr(self, name) < 0:
        raise ValueError(f"{name}: expected >= 0, got {getattr(self, name)}")
    if self.warmup_steps + self.decay_steps > self.num_steps:
      raise ValueError(f"warmup_steps + decay_steps ({self.warmup_steps} + {self.decay_steps}) must "
                       f"not exceed num_steps ({self.num_steps})")
    if self.learning_rate <= 0 or self.temperature <= 0:
      raise ValueError("learning_rate and temperature must be > 0")
    if self.architecture == "transformer" and self.dim % self.num_heads:
      raise ValueError(f"dim must be divisible by num_heads, got dim={self.dim}, "
                       f"num_heads={self.num_heads}")
    if self.num_devices > jax.device_count():
      raise ValueError(f"num_devices: expected <= {jax.device_count()} (available), "
                       f"got {self.num_devices}")
    return self


def trapezoid_schedule(learning_rate: float, num_steps: int, warmup_steps: int,
                       decay_steps: int) -> optax.Schedule:
  """Linear warm-up from 0, constant ``learning_rate``, linear decay to 0 over the last steps (App. C).

  Examples:
    >>> from armebm_jax.training import trapezoid_schedule
    >>> schedule = trapezoid_schedule(1e-2, num_steps=1000, warmup_steps=100, decay_steps=100)
    >>> schedule(50), schedule(500), schedule(950)        # 5e-3, 1e-2, 5e-3
  """
  constant_steps = num_steps - warmup_steps - decay_steps
  return optax.join_schedules(
      [optax.linear_schedule(0.0, learning_rate, max(warmup_steps, 1)),
       optax.constant_schedule(learning_rate),
       optax.linear_schedule(learning_rate, 0.0, max(decay_steps, 1))],
      boundaries=[warmup_steps, warmup_steps + constant_steps])


def make_space(cfg: TrainConfig) -> SequenceSpace:
  """The :class:`SequenceSpace` of a config: ``(vocab_size, horizon, eos)``.

  Examples:
    >>> from armebm_jax.training import TrainConfig, make_space
    >>> make_space(TrainConfig(vocab_size=4, horizon=8))      # SequenceSpace(4, 8)
  """
  return SequenceSpace(cfg.vocab_size, cfg.horizon, cfg.eos)


def make_target(cfg: TrainConfig) -> targets.Target:
  """The data distribution ρ of a config: Zipf(``zipf_exponent``) or softmax-normal(``temperature``).

  Examples:
    >>> from armebm_jax.training import TrainConfig, make_target
    >>> make_target(TrainConfig(target="zipf")).entropy()     # 5.0531…
  """
  space = make_space(cfg)
  if cfg.target == "zipf":
    return targets.zipf(space, cfg.zipf_exponent)
  return targets.softmax_normal(space, jax.random.PRNGKey(cfg.target_seed), cfg.temperature)


def make_model(cfg: TrainConfig) -> nnx.Module:
  """A freshly initialised model of a config: Transformer or tabular, ARM or EBM (seed ``cfg.seed``).

  Examples:
    >>> from armebm_jax.training import TrainConfig, make_model
    >>> model = make_model(TrainConfig(model="ebm"))          # the paper's (8, 4), N=2 EBM
  """
  rngs = nnx.Rngs(cfg.seed)
  space = make_space(cfg)
  if cfg.architecture == "tabular":
    return (TabularARM if cfg.model == "arm" else TabularEBM)(space, rngs=rngs)
  cls = TransformerARM if cfg.model == "arm" else TransformerEBM
  return cls(vocab_size=cfg.vocab_size, horizon=cfg.horizon, num_layers=cfg.num_layers,
             num_heads=cfg.num_heads, dim=cfg.dim, mlp_dim=cfg.mlp_dim, eos=cfg.eos, rngs=rngs)


def _batch(cfg: TrainConfig, space: SequenceSpace) -> np.ndarray:
  """The sequences a Transformer reads for the exact risk: state-covering prefixes (ARM) or all (EBM)."""
  return np.asarray(space.sequences()) if cfg.model == "ebm" else state_covering_prefixes(space)


def _loss_fn(cfg: TrainConfig, space: SequenceSpace, target_log_probs, mu):
  """Exact risk as a function of (model, batch of sequences)."""

  def loss(model, batch):
    if cfg.model == "arm":
      if cfg.architecture == "tabular":
        q = model.logit_tables()
      else:
        q = tables_from_prefix_logits(model(batch), space)
      return losses._arm_risk(q, mu, space)
    if cfg.architecture == "tabular":
      return losses.ebm_risk(model.scores(), target_log_probs)
    if cfg.chunk_size:
      return losses.chunked_ebm_risk(model, batch, target_log_probs, cfg.chunk_size)[0]
    return losses.ebm_risk(model(batch), target_log_probs)

  return loss


def _build(cfg: TrainConfig):
  """Model, Adam optimiser with the trapezoid schedule, and the schedule, for ``cfg``."""
  schedule = trapezoid_schedule(cfg.learning_rate, cfg.num_steps, cfg.warmup_steps, cfg.decay_steps)
  model = make_model(cfg)
  return model, nnx.Optimizer(model, optax.adam(schedule), wrt=nnx.Param), schedule


def _restore(manager, step: int, model, optimizer, run_dir: pathlib.Path):
  """Restore (model, optimizer) state at ``step`` against an abstract target; one-line errors."""
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, nnx.state((model, optimizer)))
  try:
    return manager.restore(step, args=ocp.args.StandardRestore(abstract))
  except Exception as e:  # orbax raises many types; one line for the user
    raise RunFolderError(f"checkpoint at step {step} in {run_dir / 'checkpoints'} could not be "
                         f"restored ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None


def load_model(run_dir: str | pathlib.Path, step: int | None = None) -> tuple[nnx.Module, TrainConfig]:
  """The model of a run folder at checkpoint ``step`` (default: the latest), with its config.

  Examples:
    >>> import tempfile
    >>> from armebm_jax.training import TrainConfig, load_model, train
    >>> run = tempfile.mkdtemp()
    >>> train(TrainConfig(model="ebm", architecture="tabular", vocab_size=2, horizon=2, num_steps=4,
    ...                   warmup_steps=1, decay_steps=1, eval_every=2, checkpoint_every=4), run,
    ...       progress=False)
    >>> model, cfg = load_model(run)
  """
  run_dir = pathlib.Path(run_dir).resolve()
  cfg = TrainConfig(**_read_config(run_dir / "config.json"))
  model, optimizer, _ = _build(cfg)
  with ocp.CheckpointManager(run_dir / "checkpoints") as manager:
    step = manager.latest_step() if step is None else step
    if step is None:
      raise RunFolderError(f"no checkpoint in {run_dir / 'checkpoints'}")
    nnx.update((model, optimizer), _restore(manager, step, model, optimizer, run_dir))
  return model, cfg


def _next_multiple(step: int, every: int) -> int:
  return (step // every + 1) * every


def _read_config(path: pathlib.Path) -> dict:
  try:
    return json.loads(path.read_text())
  except (OSError, json.JSONDecodeError) as e:
    raise RunFolderError(f"{path} could not be read as a run config: {e}") from None


def _prepare_folder(run_dir: pathlib.Path, cfg: TrainConfig, resume: bool, overwrite: bool) -> None:
  """Check the run folder against ``cfg`` before writing anything; then create or clear it."""
  config_path = run_dir / "config.json"
  if run_dir.exists() and any(run_dir.iterdir()):
    if overwrite:
      shutil.rmtree(run_dir)
    elif not config_path.exists():
      raise RunFolderError(f"{run_dir} is not empty and holds no config.json: choose another "
                           "folder or pass overwrite")
    else:
      saved = _read_config(config_path)
      if saved != dataclasses.asdict(cfg):
        diff = {k: (saved.get(k), v) for k, v in dataclasses.asdict(cfg).items() if saved.get(k) != v}
        raise RunFolderError(f"{run_dir} holds a run with a different config (saved, asked): {diff}; "
                             "pass overwrite to replace it")
      if not resume:
        raise RunFolderError(f"{run_dir} already holds this run: pass resume to continue it or "
                             "overwrite to start again")
  elif resume:
    raise RunFolderError(f"nothing to resume: {run_dir} holds no run")
  run_dir.mkdir(parents=True, exist_ok=True)
  config_path.write_text(json.dumps(dataclasses.asdict(cfg), indent=2) + "\n")


@dataclasses.dataclass
class Trainer:
  """What :func:`train` runs: the initial state, the sharded batch and the compiled step functions."""

  model: nnx.Module
  optimizer: nnx.Optimizer
  state: Any              # nnx.State of (model, optimizer), replicated over the mesh
  batch: jax.Array        # sequences the Transformer reads, sharded over the "data" axis
  run_steps: Any          # (state, batch, n) -> (state, last loss): n Adam steps in one call
  evaluate: Any           # (state, batch) -> exact risk
  schedule: optax.Schedule
  entropy: float          # H(ρ) = L*
  replicated: NamedSharding
  graphdef: Any           # nnx.merge(graphdef, state)[0] is the model at ``state``


def make_trainer(cfg: TrainConfig) -> Trainer:
  """Build the model, optimiser, mesh-sharded batch and jitted step functions for ``cfg``.

  Examples:
    >>> from armebm_jax.training import TrainConfig, make_trainer
    >>> t = make_trainer(TrainConfig(model="arm", architecture="tabular", vocab_size=3, horizon=2))
    >>> state, loss = t.run_steps(t.state, t.batch, 10)       # 10 Adam steps in one compiled call
  """
  cfg = cfg.validate()
  space, target = make_space(cfg), make_target(cfg)
  entropy = float(target.entropy())
  mu = losses.data_marginals(target.log_probs, space)

  devices = jax.devices()[: cfg.num_devices or jax.device_count()]
  mesh = jax.sharding.Mesh(np.asarray(devices), ("data",))
  replicated = NamedSharding(mesh, P())
  batch = _batch(cfg, space)
  batch_sharding = NamedSharding(mesh, P("data")) if len(batch) % len(devices) == 0 else replicated
  batch = jax.device_put(jnp.asarray(batch), batch_sharding)
  target_log_probs = jax.device_put(target.log_probs, replicated)
  mu = jax.device_put(mu, replicated)

  model, optimizer, schedule = _build(cfg)
  nnx.update((model, optimizer), jax.device_put(nnx.state((model, optimizer)), replicated))
  loss_fn = _loss_fn(cfg, space, target_log_probs, mu)

  graphdef, state = nnx.split((model, optimizer))

  @jax.jit
  def run_steps(state, batch, num_steps):
    """``num_steps`` Adam steps in one compiled loop (no Python dispatch per step)."""
    def body(_, carry):
      model, optimizer = nnx.merge(graphdef, carry[0])
      loss, grads = nnx.value_and_grad(loss_fn)(model, batch)
      optimizer.update(model, grads)
      return nnx.state((model, optimizer)), loss
    loss_type = jax.eval_shape(lambda s: loss_fn(nnx.merge(graphdef, s)[0], batch), state)
    return jax.lax.fori_loop(0, num_steps, body, (state, jnp.zeros((), loss_type.dtype)))

  @jax.jit
  def evaluate(state, batch):
    return loss_fn(nnx.merge(graphdef, state)[0], batch)

  return Trainer(model, optimizer, state, batch, run_steps, evaluate, schedule, entropy, replicated,
                 graphdef)


def train(cfg: TrainConfig, run_dir: str | pathlib.Path, *, resume: bool = False,
          overwrite: bool = False, progress: bool = True,
          metrics_fn: Callable[[nnx.Module], dict[str, float]] | None = None) -> list[dict[str, Any]]:
  """Train one model by full-batch exact risk minimisation; returns the metrics rows written.

  Each metrics row: ``step``, ``risk`` (exact expected risk), ``gap`` (risk − H(ρ)), ``learning_rate``,
  ``elapsed_s``, plus whatever ``metrics_fn(model)`` returns at each evaluation (e.g. distances to a
  reference model). Raises :class:`RunFolderError` (one line) for a folder that cannot be used as asked.

  Examples:
    >>> import tempfile
    >>> from armebm_jax.training import TrainConfig, train
    >>> cfg = TrainConfig(model="arm", architecture="tabular", vocab_size=3, horizon=2, num_steps=20,
    ...                   warmup_steps=2, decay_steps=2, eval_every=10, checkpoint_every=20)
    >>> rows = train(cfg, tempfile.mkdtemp(), progress=False)
    >>> rows[-1]["gap"]                                       # KL(ρ ‖ p_model)
  """
  cfg = cfg.validate()
  run_dir = pathlib.Path(run_dir).resolve()
  _prepare_folder(run_dir, cfg, resume, overwrite)
  setup = make_trainer(cfg)
  model, optimizer, state, batch = setup.model, setup.optimizer, setup.state, setup.batch
  run_steps, evaluate, schedule, entropy = setup.run_steps, setup.evaluate, setup.schedule, setup.entropy
  replicated = setup.replicated

  manager = ocp.CheckpointManager(
      run_dir / "checkpoints",
      options=ocp.CheckpointManagerOptions(max_to_keep=cfg.max_to_keep, create=True))
  metrics_path = run_dir / "metrics.jsonl"
  start = 0
  if resume:
    start = manager.latest_step() or 0
    if start:
      state = jax.device_put(_restore(manager, start, model, optimizer, run_dir), replicated)
  rows = []
  if metrics_path.exists():  # keep what was measured up to the restored step, drop the rest
    for line in metrics_path.read_text().splitlines():
      row = json.loads(line)
      if row["step"] <= start:
        rows.append(row)
  metrics_path.write_text("".join(json.dumps(r) + "\n" for r in rows))

  t0 = time.perf_counter()
  with metrics_path.open("a") as metrics_file, tqdm(
      total=cfg.num_steps, initial=start, disable=not progress, desc=f"{cfg.model} {cfg.architecture}",
      unit="step", dynamic_ncols=True) as bar:
    step = start
    while step < cfg.num_steps:  # run to the next evaluation / checkpoint boundary in one call
      stop = 1 if step == 0 else min(cfg.num_steps, _next_multiple(step, cfg.eval_every),
                                     _next_multiple(step, cfg.checkpoint_every))
      state, loss = run_steps(state, batch, stop - step)
      bar.update(stop - step)
      step = stop
      if step % cfg.eval_every == 0 or step == cfg.num_steps or step == 1:
        risk = float(evaluate(state, batch))
        row = dict(step=step, risk=risk, gap=risk - entropy, train_loss=float(loss),
                   learning_rate=float(schedule(step)), elapsed_s=time.perf_counter() - t0)
        if metrics_fn is not None:
          row.update({k: float(v) for k, v in metrics_fn(nnx.merge(setup.graphdef, state)[0]).items()})
        rows.append(row)
        metrics_file.write(json.dumps(row) + "\n")
        metrics_file.flush()
        bar.set_postfix(gap=f"{row['gap']:.3e}")
      if step % cfg.checkpoint_every == 0 or step == cfg.num_steps:
        manager.save(step, args=ocp.args.StandardSave(state))
  manager.wait_until_finished()
  manager.close()
  return rows

