"""Log-partition functions and sequence scores as token-level rewards (Blondel et al., 2026, Prop. 1, Sec. 4).

``log Z = log Σ_y exp R(y)`` costs O(V^T) by enumeration; through the bijection it is the soft value of
the root, ``log Z = V_{M(r)}(root)``, computed by the same backward sweep as :func:`rewards_to_logits`.
Its gradient with respect to ``r(s_t, y_t)`` is the prefix marginal ``p(y_≤t)`` (Sec. 3.3).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from armebm_jax import bellman
from armebm_jax.spaces import SequenceSpace

__all__ = ["log_partition", "scores_to_rewards"]


def log_partition(r: Sequence[jax.Array], space: SequenceSpace,
                  ref_logits: Sequence[jax.Array] | None = None) -> jax.Array:
  r"""Exact log-partition of the EBM with token-level rewards ``r``: a scalar.

  .. math:: \log Z = \log \sum_y p_{\mathrm{ref}}(y)\, e^{R_r(y)} = V_{M(r)}(\mathrm{root})

  (``p_ref ≡ 1`` without ``ref_logits``). One backward sweep, O(#states · A); differentiable, with
  ``∂ log Z / ∂ r(s, a) = p(s ⊕ a)``, the probability that a response passes through ``(s, a)``.

  Examples:
    >>> import armebm_jax as ae
    >>> space = ae.SequenceSpace(vocab_size=8, horizon=4, eos=True)
    >>> float(ae.log_partition(space.full_tables(0.0), space))  # log 585
    6.3716...
  """
  r = bellman._check(r, space, "r")
  ref_logits = bellman._check(ref_logits, space, "ref_logits", optional=True)
  return _log_partition(r, space, ref_logits)


@functools.partial(jax.jit, static_argnames="space")
def _log_partition(r, space, ref_logits):
  return bellman._sweep(r, space, ref_logits)[1][0][0]


def scores_to_rewards(scores: jax.Array, space: SequenceSpace) -> tuple[jax.Array, ...]:
  r"""Put sequence scores ``R(y)`` on the terminal step: ``r(s, a) = R(s ⊕ a)`` if terminal, else 0.

  Then ``R_r(y) = Σ_t r(s_t, y_t) = R(y)`` for every ``y`` (Sec. 2: no loss of generality).

  Args:
    scores: ``(N,)`` floating scores in :meth:`SequenceSpace.sequences` order.
    space: the :class:`SequenceSpace`.

  Returns:
    Reward tables; forbidden entries are ``-inf``.

  Examples:
    >>> space = ae.SequenceSpace(2, 2)
    >>> r = ae.scores_to_rewards(jnp.array([0.0, 1.0, 2.0, 3.0]), space)   # R on the last token
    >>> ae.sequence_rewards(r, space)                                      # [0, 1, 2, 3]
  """
  if not hasattr(scores, "shape"):
    scores = jnp.asarray(scores)
  if tuple(scores.shape) != (space.num_sequences,):
    raise ValueError(
        f"scores: expected shape ({space.num_sequences},) (one score per sequence of {space}), "
        f"got {tuple(scores.shape)}")
  if not jnp.issubdtype(scores.dtype, jnp.floating):
    raise TypeError(f"scores: expected a floating dtype, got {scores.dtype}")
  return _scores_to_rewards(jnp.asarray(scores), space)


def as_rewards(rewards, space: SequenceSpace, name: str = "rewards") -> tuple[jax.Array, ...]:
  """Validated reward tables from either reward tables or ``(N,)`` sequence scores (terminal step).

  The one place that accepts both forms; the samplers, alignment and distillation call it.
  """
  if not isinstance(rewards, (tuple, list)):
    rewards = scores_to_rewards(rewards, space)
  return space.check_tables(rewards, name)


@functools.partial(jax.jit, static_argnames="space")
def _scores_to_rewards(scores, space):
  V, T, dtype = space.vocab_size, space.horizon, scores.dtype
  if not space.eos:
    tables = [jnp.zeros(shape, dtype) for shape in space.table_shapes[:-1]]
    return (*tables, scores.reshape(space.table_shapes[-1]))
  tables, offset = [], 0
  for t, n in enumerate(space.num_states):
    content = jnp.full((n, V), -jnp.inf if t == T - 1 else 0.0, dtype)
    tables.append(jnp.concatenate([content, scores[offset:offset + n, None]], axis=1))
    offset += n
  return tuple(tables)
