"""Exact and minibatch risks of ARMs and EBMs (Blondel et al., 2026, Sec. 4, Prop. 2).

* ARM (teacher forcing): ``L_ARM(q) = −E_{y~ρ} Σ_t log π_q(y_t|s_t) = −Σ_{s,a} μ_ρ(s, a) log π_q(a|s)``,
  with ``μ_ρ(s, a)`` the ρ-probability that a sequence passes through ``(s, a)`` (only states on data
  paths get gradient).
* EBM: ``L_EBM(R) = E_{y~ρ}[log Z − R(y)] = log Z − Σ_y ρ(y) R(y)``.
* Both are at least ``L* = H(ρ)``; the optimality gap ``L − L*`` is ``KL(ρ ‖ p_model)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp

from armebm_jax import bellman, numerics
from armebm_jax.spaces import SequenceSpace
from armebm_jax.token_values import batch_token_values

__all__ = [
    "data_marginals",
    "arm_risk",
    "ebm_risk",
    "arm_nll",
    "ebm_nll",
    "chunked_ebm_risk",
]


def data_marginals(log_probs: jax.Array, space: SequenceSpace) -> tuple[jax.Array, ...]:
  r"""``μ_ρ(s, a) = Σ_{y ∋ (s, a)} ρ(y)`` as tables, from ``(N,)`` log-probabilities in ``sequences()`` order.

  One backward sum over the tree: the mass of a content action is the mass of its child state.
  Forbidden entries are 0.

  Examples:
    >>> from armebm_jax.losses import data_marginals
    >>> space = ae.SequenceSpace(2, 2)
    >>> mu = data_marginals(jnp.log(jnp.array([0.1, 0.2, 0.3, 0.4])), space)
    >>> mu[0]                         # [[0.3, 0.7]]: mass through each first token
  """
  log_probs = jnp.asarray(log_probs)
  if log_probs.shape != (space.num_sequences,):
    raise ValueError(f"log_probs: expected shape ({space.num_sequences},) for {space}, "
                     f"got {log_probs.shape}")
  return _data_marginals(log_probs, space)


@functools.partial(jax.jit, static_argnames="space")
def _data_marginals(log_probs, space):
  V, T = space.vocab_size, space.horizon
  rho = jnp.exp(log_probs)
  tables = [None] * T
  if not space.eos:
    tables[T - 1] = rho.reshape(space.table_shapes[-1])
  offsets = [sum(space.num_states[:t]) for t in range(T)]
  child_mass = None
  for t in range(T - 1, -1, -1):
    n = space.num_states[t]
    if space.eos:
      stop = rho[offsets[t]:offsets[t] + n, None]
      content = (jnp.zeros((n, V), rho.dtype) if t == T - 1
                 else child_mass.reshape(n, V))
      tables[t] = jnp.concatenate([content, stop], axis=1)
    elif t < T - 1:
      tables[t] = child_mass.reshape(n, V)
    child_mass = jnp.sum(tables[t], axis=-1)
  return tuple(tables)


def arm_risk(q, target_log_probs: jax.Array, space: SequenceSpace) -> jax.Array:
  r"""Exact teacher-forcing risk ``−Σ_{s,a} μ_ρ(s, a) log π_q(a|s)`` of ARM logit tables ``q``.

  Examples:
    >>> from armebm_jax.losses import arm_risk
    >>> space = ae.SequenceSpace(2, 2)
    >>> rho = jnp.log(jnp.array([0.1, 0.2, 0.3, 0.4]))
    >>> arm_risk(space.full_tables(0.0), rho, space)       # 2 log 2 for a uniform ARM
  """
  q = bellman._check(q, space, "q")
  mu = data_marginals(target_log_probs, space)
  return _arm_risk(q, mu, space)


@functools.partial(jax.jit, static_argnames="space")
def _arm_risk(q, mu, space):
  log_pi = bellman._log_policy(q, space, None)
  return -sum(jnp.sum(jnp.where(m > 0, m * lp, 0.0)) for m, lp in zip(mu, log_pi, strict=True))


def ebm_risk(scores: jax.Array, target_log_probs: jax.Array) -> jax.Array:
  r"""Exact EBM risk ``log Σ_y e^{R(y)} − Σ_y ρ(y) R(y)`` from ``(N,)`` scores and ``(N,)`` log ρ.

  Examples:
    >>> from armebm_jax.losses import ebm_risk
    >>> rho = jnp.log(jnp.array([0.1, 0.2, 0.3, 0.4]))
    >>> ebm_risk(rho, rho)                  # = H(ρ): scores log ρ are optimal
  """
  scores, target_log_probs = jnp.asarray(scores), jnp.asarray(target_log_probs)
  if scores.shape != target_log_probs.shape or scores.ndim != 1:
    raise ValueError(f"scores: expected shape {target_log_probs.shape} (that of target_log_probs), "
                     f"got {scores.shape}")
  rho = jnp.exp(target_log_probs)
  return numerics.logsumexp(scores) - jnp.sum(jnp.where(rho > 0, rho * scores, 0.0))


def arm_nll(logits_BxTxA: jax.Array, tokens_BxT: jax.Array, mask_BxT: jax.Array | None = None,
            eos_id: int | None = None) -> jax.Array:
  """Minibatch estimate of the ARM risk: mean over the batch of ``−Σ_t log π(y_t|s_t)``.

  Examples:
    >>> from armebm_jax.losses import arm_nll
    >>> arm_nll(jnp.zeros((8, 3, 4)), jnp.zeros((8, 3), jnp.int32))     # 3 log 4
  """
  tv = batch_token_values(logits_BxTxA, tokens_BxT, mask_BxT, eos_id=eos_id)
  return -jnp.mean(jnp.sum(tv.log_prob, axis=-1))


def ebm_nll(scores_B: jax.Array, log_partition: jax.Array) -> jax.Array:
  """Minibatch estimate of the EBM risk: ``log Z − mean_b R(y_b)`` (``log Z`` exact, e.g. chunked).

  Examples:
    >>> from armebm_jax.losses import ebm_nll
    >>> ebm_nll(jnp.array([1.0, 2.0]), log_partition=jnp.log(10.0))    # log 10 − 1.5
  """
  return log_partition - jnp.mean(scores_B)


def chunked_ebm_risk(score_fn: Callable[[jax.Array], jax.Array], sequences_NxT: jax.Array,
                     target_log_probs: jax.Array, chunk_size: int) -> tuple[jax.Array, jax.Array]:
  r"""Exact EBM risk and ``log Z`` over all sequences, ``chunk_size`` sequences at a time.

  A ``lax.scan`` carries a streaming log-sum-exp ``(m, s)`` and ``Σ ρ R``; each chunk's scores are
  recomputed in the backward pass (``jax.checkpoint``), so peak memory is set by ``chunk_size``, not
  by the number of sequences. ``score_fn`` maps ``(C, T)`` int sequences to ``(C,)`` scores.

  Returns:
    ``(risk, log_z)``.

  Examples:
    >>> from armebm_jax.losses import chunked_ebm_risk
    >>> space = ae.SequenceSpace(2, 3)
    >>> seqs = jnp.asarray(space.sequences())
    >>> score_fn = lambda y: y.sum(-1).astype(jnp.float32)
    >>> risk, log_z = chunked_ebm_risk(score_fn, seqs, jnp.full(8, -jnp.log(8.0)), chunk_size=3)
  """
  n = sequences_NxT.shape[0]
  if target_log_probs.shape != (n,):
    raise ValueError(f"target_log_probs: expected shape ({n},), got {target_log_probs.shape}")
  if chunk_size < 1:
    raise ValueError(f"chunk_size: expected >= 1, got {chunk_size}")
  pad = (-n) % chunk_size
  seqs = jnp.concatenate([sequences_NxT, jnp.zeros((pad,) + sequences_NxT.shape[1:],
                                                   sequences_NxT.dtype)])
  valid = jnp.arange(n + pad) < n
  rho = jnp.where(valid, jnp.exp(jnp.pad(target_log_probs, (0, pad))), 0.0)
  chunks = (seqs.reshape(-1, chunk_size, seqs.shape[-1]), valid.reshape(-1, chunk_size),
            rho.reshape(-1, chunk_size))

  @jax.checkpoint
  def body(carry, chunk):
    m, s, cross = carry
    seq_c, valid_c, rho_c = chunk
    scores_c = jnp.where(valid_c, score_fn(seq_c), -jnp.inf)
    m_new = jnp.maximum(m, jax.lax.stop_gradient(jnp.max(scores_c)))
    s = s * jnp.exp(m - m_new) + jnp.sum(jnp.exp(scores_c - m_new))
    cross = cross + jnp.sum(jnp.where(valid_c, rho_c * scores_c, 0.0))
    return (m_new, s, cross), None

  dtype = rho.dtype
  init = (jnp.asarray(-1e30, dtype), jnp.zeros((), dtype), jnp.zeros((), dtype))
  (m, s, cross), _ = jax.lax.scan(body, init, chunks)
  log_z = m + jnp.log(s)
  return log_z - cross, log_z
