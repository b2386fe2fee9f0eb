r"""Distilling an EBM teacher into an ARM student (Blondel et al., 2026, Sec. 4 and §6).

The teacher is a sequence score ``R(y)`` (``p_T(y) ∝ e^{R(y)}``): tabular scores, an analytic
reward, or a trained Transformer EBM. The student is any ARM module (``student(tokens_BxT)`` returns
``(B, T, A)`` next-token logits; ``student.logit_tables()`` its tables, for exact evaluation).
Objectives:

* ``forward_kl``: teacher-forcing NLL on exact teacher samples (drawn from ``M(r)``, Prop. 1);
  ``forward_kl_exact``: ``KL(p_T ‖ p_θ)`` by enumeration (small spaces).
* ``reverse_kl`` (MaxEnt RL): the score-function gradient of ``KL(p_θ ‖ p_T) = E_θ[log p_θ − R] + log Z``
  on the student's own samples with a leave-one-out baseline; ``reverse_kl_exact`` by enumeration.
* ``soft_bellman``: regress ``q_θ(s_t, y_t)`` on ``r(s_t, y_t) + V_θ(s_{t+1})`` along sampled paths,
  ``V_θ(s) = log Σ_a e^{q_θ(s, a)}``, with the teacher's score as the terminal reward: its zero is
  ``q_θ = M(r)`` exactly (Eq. 6). It needs no enumeration and no ``log Z``.

Each run reports the exact KL in both directions and the Prop. 3 certificate
``2T‖c(M(r)) − c(q_θ)‖∞ ≥ KL`` (``c`` centres each state's row: shifts change no distribution).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from armebm_jax import bellman, distributions
from armebm_jax._progress import tqdm
from armebm_jax.bounds import center_logits, sup_distance
from armebm_jax.partition import as_rewards, scores_to_rewards
from armebm_jax.sampling import _sample_tables, sample_model, table_score_fn
from armebm_jax.spaces import SequenceSpace
from armebm_jax.token_values import batch_token_values

__all__ = [
    "OBJECTIVES",
    "DistillConfig",
    "certificate",
    "distill",
    "exact_kls",
    "forward_kl_loss",
    "myopic_logits",
    "reverse_kl_loss",
    "soft_bellman_loss",
    "sum_task_scores",
]

OBJECTIVES = ("forward_kl", "forward_kl_exact", "reverse_kl", "reverse_kl_exact", "soft_bellman")


# ----------------------------------------------------------------------------------------- measures
def exact_kls(q, teacher_scores: jax.Array, space: SequenceSpace) -> tuple[jax.Array, jax.Array]:
  r"""``(KL(p_T ‖ p_ARM[q]), KL(p_ARM[q] ‖ p_T))`` by enumeration, ``p_T ∝ e^{R}`` from ``(N,)`` scores.

  Examples:
    >>> from armebm_jax.distill import exact_kls
    >>> space = ae.SequenceSpace(3, 2)
    >>> fwd, rev = exact_kls(space.full_tables(0.0), jnp.arange(9.0) / 3, space)   # uniform student
  """
  log_t = distributions.ebm_log_probs(teacher_scores)
  log_s = distributions.sequence_log_probs(q, space)
  return distributions.kl_divergence(log_t, log_s), distributions.kl_divergence(log_s, log_t)


def certificate(q, teacher_rewards, space: SequenceSpace) -> jax.Array:
  r"""Prop. 3 with centred rows: ``2T · max_{s,a} |c(M(r))(s, a) − c(q)(s, a)|``, bounding both KLs.

  ``teacher_rewards``: reward tables ``r``, or ``(N,)`` scores (put on the terminal step).

  Examples:
    >>> from armebm_jax.distill import certificate
    >>> space = ae.SequenceSpace(3, 2)
    >>> R = jnp.arange(9.0) / 3
    >>> q = ae.rewards_to_logits(ae.scores_to_rewards(R, space), space)
    >>> certificate(q, R, space)                     # 0: the student is the teacher
  """
  m = bellman.rewards_to_logits(as_rewards(teacher_rewards, space, "teacher_rewards"), space)
  return _certificate(center_logits(m, space), q, space)


def _certificate(centred_teacher_q, q, space):
  """``2T‖c(M(r)) − c(q)‖∞`` with ``c(M(r))`` given (computed once per teacher, not per evaluation)."""
  return 2 * space.horizon * sup_distance(centred_teacher_q, center_logits(q, space), space)


# ----------------------------------------------------------------------------------------- losses
def _terminal_position(tokens_BxT, eos_id):
  """``(B,)`` index of each response's terminal action: its first EOS, or ``T − 1`` without EOS."""
  if eos_id is None:
    return jnp.full(tokens_BxT.shape[:1], tokens_BxT.shape[1] - 1)
  return jnp.argmax(tokens_BxT == eos_id, axis=1)


def forward_kl_loss(student_logits_BxTxA: jax.Array, teacher_tokens_BxT: jax.Array,
                    eos_id: int | None = None) -> jax.Array:
  r"""``−mean_b log p_θ(y_b)`` on teacher samples: an unbiased estimate of ``KL(p_T ‖ p_θ) + H(p_T)``.

  Examples:
    >>> from armebm_jax.distill import forward_kl_loss
    >>> space = ae.SequenceSpace(3, 3)
    >>> teacher_ys = ae.sample_ebm(jax.random.PRNGKey(0), jnp.arange(27.0) / 9, space, 64)
    >>> logits = jnp.zeros((64, 3, 3))               # the student's logits on those sequences
    >>> forward_kl_loss(logits, teacher_ys)          # 3 log 3 for a uniform student
  """
  tv = batch_token_values(student_logits_BxTxA, teacher_tokens_BxT, eos_id=eos_id)
  return -jnp.mean(jnp.sum(tv.log_prob, axis=-1))


def reverse_kl_loss(student_logits_BxTxA: jax.Array, student_tokens_BxT: jax.Array,
                    scores_B: jax.Array, eos_id: int | None = None) -> jax.Array:
  r"""Surrogate whose gradient is an unbiased estimate of ``∇ KL(p_θ ‖ p_T)`` (score function).

  .. math:: \nabla \mathrm{KL} = \mathbb{E}_{y\sim p_θ}\big[(\log p_θ(y) - R(y) - b)\,\nabla \log p_θ(y)\big]

  with ``y_b`` the student's own samples (``B ≥ 2``) and ``b`` the leave-one-out mean of
  ``log p_θ − R`` over the other samples, so the baseline adds no bias.

  Examples:
    >>> from armebm_jax.distill import reverse_kl_loss
    >>> tokens = jnp.array([[0, 1], [2, 2], [1, 0]])         # the student's own samples
    >>> logits = jnp.zeros((3, 2, 3))
    >>> reverse_kl_loss(logits, tokens, jnp.array([0.0, 1.0, 2.0]))   # differentiate w.r.t. the logits
  """
  B = student_tokens_BxT.shape[0]
  if B < 2:
    raise ValueError(f"student_tokens_BxT: the leave-one-out baseline needs B >= 2, got {B}")
  tv = batch_token_values(student_logits_BxTxA, student_tokens_BxT, eos_id=eos_id)
  log_p = jnp.sum(tv.log_prob, axis=-1)
  f = jax.lax.stop_gradient(log_p - scores_B)
  baseline = (jnp.sum(f) - f) / (B - 1)
  return jnp.mean((f - baseline) * log_p)


def soft_bellman_loss(student_logits_BxTxA: jax.Array, tokens_BxT: jax.Array, scores_B: jax.Array,
                      eos_id: int | None = None) -> jax.Array:
  r"""Mean over paths of ``Σ_t (q_θ(s_t, y_t) − V_θ(s_{t+1}) − r_t)²``, ``r_t = R(y)`` at the last step.

  ``q_θ − V_θ(next)`` is ``M⁻¹(q_θ)`` along the path (:func:`~armebm_jax.token_values.token_values`),
  so the loss is zero exactly when the student's logits are ``M(r)`` on every visited state.

  Examples:
    >>> from armebm_jax.distill import soft_bellman_loss
    >>> space = ae.SequenceSpace(2, 2)
    >>> R = jnp.array([0.0, 1.0, 2.0, 3.0])
    >>> q = ae.rewards_to_logits(ae.scores_to_rewards(R, space), space)
    >>> ys = jnp.asarray(space.sequences())
    >>> logits = jax.vmap(lambda y: ae.path_logits(q, y, space))(ys)
    >>> soft_bellman_loss(logits, ys, R)                    # 0 at q = M(r)
  """
  tv = batch_token_values(student_logits_BxTxA, tokens_BxT, eos_id=eos_id)  # 0 after EOS
  steps = jnp.arange(tokens_BxT.shape[1])
  r = jnp.where(steps == _terminal_position(tokens_BxT, eos_id)[:, None], scores_B[:, None], 0.0)
  return jnp.mean(jnp.sum(jnp.square(tv.reward - r), axis=-1))


# ----------------------------------------------------------------------------------------- lookahead task
def sum_task_scores(space: SequenceSpace, total: int, strength: float = 5.0) -> jax.Array:
  r"""A reward that depends only on where a sequence ends up: ``R(y) = strength · 1{Σ_t y_t = total}``.

  Content tokens are summed (EOS counts nothing). Reaching the total needs planning from the first
  token: the EBM's first-token marginal favours tokens from which the total is still reachable by many
  completions, while a policy that sees only immediate rewards is uniform until the last step.

  Examples:
    >>> from armebm_jax.distill import sum_task_scores
    >>> space = ae.SequenceSpace(4, 4)
    >>> R = sum_task_scores(space, total=10)       # 5 where Σ y_t = 10, else 0
  """
  seqs = np.asarray(space.sequences())
  sums = np.where(seqs < space.vocab_size, seqs, 0).sum(axis=1)
  return jnp.asarray(strength * (sums == total), jnp.result_type(float))


def myopic_logits(rewards, space: SequenceSpace) -> tuple[jax.Array, ...]:
  """The policy that sees only immediate rewards: ``π(a|s) ∝ exp r(s, a)`` (logits = rewards, no V).

  Examples:
    >>> from armebm_jax.distill import myopic_logits, sum_task_scores
    >>> space = ae.SequenceSpace(4, 4)
    >>> q = myopic_logits(sum_task_scores(space, 10), space)
    >>> jnp.exp(ae.log_policy(q, space)[0][0])      # uniform first token: no reward is visible yet
  """
  return as_rewards(rewards, space)


# ----------------------------------------------------------------------------------------- training
@dataclasses.dataclass(frozen=True)
class DistillConfig:
  """One distillation run: the objective, Adam's step size (decayed linearly to 0 over the run unless
  ``decay=False``, which removes the SGD noise floor of the sampled objectives) and sequences per step."""

  objective: str = "forward_kl"
  num_steps: int = 500
  learning_rate: float = 0.05
  decay: bool = True
  batch_size: int = 64
  eval_every: int = 25
  seed: int = 0
  # soft_bellman: paths are drawn from the student at temperature τ. Any path distribution has the same
  # fixed point q = M(r), but on-policy paths (τ = 1) rarely visit states the student already thinks
  # unlikely, and those are fixed slowly; τ = 2 explores them (on the V=4, T=4 sum task, 400 tabular
  # steps: KL 0.55 at τ = 1, 0.007 at τ = 2).
  behaviour_temperature: float = 2.0

  def validate(self) -> DistillConfig:
    if self.objective not in OBJECTIVES:
      raise ValueError(f"objective: expected one of {OBJECTIVES}, got {self.objective!r}")
    for name in ("num_steps", "batch_size", "eval_every"):
      if getattr(self, name) < 1:
        raise ValueError(f"{name}: expected >= 1, got {getattr(self, name)}")
    if self.objective == "reverse_kl" and self.batch_size < 2:
      raise ValueError(f"batch_size: reverse_kl needs >= 2 (leave-one-out baseline), got "
                       f"{self.batch_size}")
    if not self.learning_rate > 0 or not self.behaviour_temperature > 0:
      raise ValueError("learning_rate and behaviour_temperature must be > 0")
    return self


def distill(student: nnx.Module, teacher: jax.Array | Callable[[jax.Array], jax.Array],
            cfg: DistillConfig, *, progress: bool = True) -> list[dict[str, Any]]:
  r"""Train ``student`` (in place) towards the EBM ``p_T ∝ e^{R}``; returns one metrics row per evaluation.

  Args:
    student: an ARM module with ``space``, ``__call__`` (tokens -> logits) and ``logit_tables()``.
    teacher: ``(N,)`` scores ``R(y)`` in ``student.space.sequences()`` order, or a function
      ``(B, T) -> (B,)`` (e.g. a trained :class:`~armebm_jax.models.TransformerEBM`); it is evaluated
      once on every sequence for the exact KLs, the certificate and the teacher sampler.
    cfg: a :class:`DistillConfig`.

  Returns:
    Rows with ``step``, ``loss`` (the objective at the last step before the row; ``None`` at step 0),
    ``forward_kl`` = KL(p_T ‖ p_θ), ``reverse_kl`` = KL(p_θ ‖ p_T),
    ``certificate`` (Prop. 3, ≥ both KLs) and ``elapsed_s``.

  Examples:
    >>> from armebm_jax.distill import DistillConfig, distill
    >>> from armebm_jax.models import TabularARM
    >>> space = ae.SequenceSpace(3, 2)
    >>> student = TabularARM(space)
    >>> rows = distill(student, jnp.arange(9.0) / 3, DistillConfig("forward_kl_exact", num_steps=50),
    ...                progress=False)
    >>> rows[-1]["forward_kl"], rows[-1]["certificate"]
  """
  cfg = cfg.validate()
  space = getattr(student, "space", None)
  if not isinstance(space, SequenceSpace) or not hasattr(student, "logit_tables"):
    raise TypeError(f"student: expected an ARM module with `space` and `logit_tables()`, got "
                    f"{type(student).__name__}")
  seqs = jnp.asarray(space.sequences())
  scores = jnp.asarray(teacher(seqs) if callable(teacher) else teacher)
  if scores.shape != (space.num_sequences,):
    raise ValueError(f"teacher: expected ({space.num_sequences},) scores (one per sequence of {space}), "
                     f"got {scores.shape}")
  scores = jax.lax.stop_gradient(scores.astype(jnp.result_type(float)))
  teacher_q = bellman.rewards_to_logits(scores_to_rewards(scores, space), space)
  teacher_q_centred = center_logits(teacher_q, space)
  score_of = table_score_fn(scores, space)
  eos_id, B = space.eos_id, cfg.batch_size

  def loss_fn(model, key):
    if cfg.objective == "forward_kl_exact":
      return exact_kls(model.logit_tables(), scores, space)[0]
    if cfg.objective == "reverse_kl_exact":
      return exact_kls(model.logit_tables(), scores, space)[1]
    if cfg.objective == "forward_kl":
      tokens = _sample_tables(key, teacher_q, space, B, 1.0)
      return forward_kl_loss(model(tokens), tokens, eos_id)
    tokens = sample_model(key, model, B, 1.0 if cfg.objective == "reverse_kl"
                          else cfg.behaviour_temperature)
    if cfg.objective == "reverse_kl":
      return reverse_kl_loss(model(tokens), tokens, score_of(tokens), eos_id)
    return soft_bellman_loss(model(tokens), tokens, score_of(tokens), eos_id)

  schedule = (optax.linear_schedule(cfg.learning_rate, 0.0, cfg.num_steps) if cfg.decay
              else cfg.learning_rate)
  optimizer = nnx.Optimizer(student, optax.adam(schedule), wrt=nnx.Param)
  graphdef, state = nnx.split((student, optimizer))
  key = jax.random.PRNGKey(cfg.seed)
  loss_dtype = jax.eval_shape(lambda st: loss_fn(nnx.merge(graphdef, st)[0], key), state).dtype

  @jax.jit
  def run_steps(state, start, num_steps):
    """``num_steps`` Adam steps in one compiled loop; step ``i`` draws with ``fold_in(key, i)``."""
    def body(i, carry):
      model, opt = nnx.merge(graphdef, carry[0])
      loss, grads = nnx.value_and_grad(loss_fn)(model, jax.random.fold_in(key, start + i))
      opt.update(model, grads)
      return nnx.state((model, opt)), loss
    return jax.lax.fori_loop(0, num_steps, body, (state, jnp.zeros((), loss_dtype)))

  @jax.jit
  def evaluate(state):
    q = nnx.merge(graphdef, state)[0].logit_tables()
    return (*exact_kls(q, scores, space), _certificate(teacher_q_centred, q, space))

  rows, t0, step, loss = [], time.perf_counter(), 0, None
  with tqdm(total=cfg.num_steps, desc=f"distill {cfg.objective}", disable=not progress,
            dynamic_ncols=True) as bar:
    while True:
      fwd, rev, cert = evaluate(state)
      rows.append(dict(step=step, loss=None if loss is None else float(loss), forward_kl=float(fwd),
                       reverse_kl=float(rev), certificate=float(cert),
                       elapsed_s=time.perf_counter() - t0))
      if step == cfg.num_steps:
        break
      n = min(cfg.eval_every, cfg.num_steps - step)  # to the next evaluation, in one call
      state, loss = run_steps(state, step, n)
      step += n
      bar.update(n)
  nnx.update((student, optimizer), state)
  return rows
