"""The soft Bellman bijection between rewards and logits (Blondel et al., 2026, Prop. 1, Sec. 3.3, App. A).

``q = M(r)`` maps token-level rewards to next-token logits,

.. math::

   q(s, a) = \\begin{cases} r(s, a) & a \\text{ terminal (EOS, or step } T) \\\\
                            r(s, a) + V_q(s \\oplus a) & \\text{otherwise} \\end{cases}
   \\qquad V_q(s) = \\log \\sum_a e^{q(s, a)},

computed by one backward sweep over the prefix tree (a Python loop over the static depth, vectorised
over every state of a depth). ``r = M⁻¹(q)`` subtracts the soft value of the child instead and is
local. With a reference policy (App. A.5), logits are residuals: ``π ∝ π_ref · exp(q)`` and
``V_q(s) = log E_{a~π_ref(·|s)} exp q(s, a)``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from armebm_jax import numerics
from armebm_jax.spaces import SequenceSpace

__all__ = ["rewards_to_logits", "logits_to_rewards", "soft_values", "log_policy"]


def _check(tables, space: SequenceSpace, name: str, optional: bool = False):
  """Validate ``tables`` in Python, before tracing (``None`` passes through when ``optional``)."""
  if optional and tables is None:
    return None
  return space.check_tables(tables, name)


def _mask(tables, space: SequenceSpace) -> tuple[jax.Array, ...]:
  """Force ``-inf`` at forbidden entries (a no-op on valid inputs; under jit values are unchecked)."""
  if not space.eos:
    return tuple(tables)
  last = jnp.where(space.valid_masks()[-1], tables[-1], -jnp.inf).astype(tables[-1].dtype)
  return (*tables[:-1], last)


def _ref_log_policies(ref_logits, space: SequenceSpace):
  """log π_ref tables (or a tuple of ``None`` without a reference)."""
  if ref_logits is None:
    return (None,) * space.horizon
  return tuple(numerics.log_softmax(x, axis=-1) for x in _mask(ref_logits, space))


def _state_values(q_t: jax.Array, log_ref_t: jax.Array | None) -> jax.Array:
  """``V(s) = log Σ_a π_ref(a|s) e^{q(s,a)}`` (``π_ref ≡ 1`` without reference) for every state."""
  return numerics.logsumexp(q_t, axis=-1, bias=log_ref_t)


def _child_values(v_next: jax.Array, space: SequenceSpace, t: int) -> jax.Array:
  """Soft value of ``s ⊕ a`` for every entry of depth ``t``: ``(V**t, A)``, 0 in the EOS column."""
  v = v_next.reshape(space.num_states[t], space.vocab_size)
  if space.eos:
    v = jnp.pad(v, ((0, 0), (0, 1)))
  return v


def _sweep(r: Sequence[jax.Array], space: SequenceSpace, ref_logits) -> tuple[tuple, tuple]:
  """Backward sweep ``q = M(r)``; returns ``(q tables, soft values per depth)``. Traced code."""
  T = space.horizon
  r, log_ref = _mask(r, space), _ref_log_policies(ref_logits, space)
  q, v = [None] * T, [None] * T
  q[T - 1] = r[T - 1]
  v[T - 1] = _state_values(q[T - 1], log_ref[T - 1])
  for t in range(T - 2, -1, -1):
    q[t] = r[t] + _child_values(v[t + 1], space, t)
    v[t] = _state_values(q[t], log_ref[t])
  return tuple(q), tuple(v)


def rewards_to_logits(r: Sequence[jax.Array], space: SequenceSpace,
                      ref_logits: Sequence[jax.Array] | None = None) -> tuple[jax.Array, ...]:
  r"""``q = M(r)``: the ARM logits whose sequence distribution is the EBM of rewards ``r`` (Prop. 1).

  .. math::
     q(s, a) = r(s, a) + [a \text{ not terminal}]\; V_q(s \oplus a),\qquad
     V_q(s) = \log \textstyle\sum_a \pi_{\mathrm{ref}}(a|s)\, e^{q(s, a)}

  (the sum is unweighted when ``ref_logits`` is None). Then ``p_ARM[q](y) ∝ p_ref(y) · exp R_r(y)``
  and ``log Z = V_q(root)``. Cost: one pass over the tree, O(#states · A).

  Args:
    r: rewards, a tuple of ``T`` tables ``(V**t, A)`` with ``-inf`` at forbidden entries.
    space: the :class:`SequenceSpace` (static under ``jax.jit``).
    ref_logits: optional reference-policy logits, same shapes (App. A.5).

  Returns:
    The logits ``q``, a tuple of tables with the shapes and dtype of ``r``.

  Examples:
    >>> space = ae.SequenceSpace(vocab_size=2, horizon=2)
    >>> r = ae.scores_to_rewards(jnp.array([0.0, 1.0, 2.0, 3.0]), space)
    >>> q = ae.rewards_to_logits(r, space)
    >>> q[0]                       # [[1.3132617, 3.3132617]]: reward + soft value of the futures
  """
  r = _check(r, space, "r")
  ref_logits = _check(ref_logits, space, "ref_logits", optional=True)
  return _rewards_to_logits(r, space, ref_logits)


@functools.partial(jax.jit, static_argnames="space")
def _rewards_to_logits(r, space, ref_logits):
  return _sweep(r, space, ref_logits)[0]


def soft_values(q: Sequence[jax.Array], space: SequenceSpace,
                ref_logits: Sequence[jax.Array] | None = None) -> tuple[jax.Array, ...]:
  r"""Soft value of every state, ``V_q(s) = log Σ_a π_ref(a|s) exp q(s, a)``: a tuple of ``(V**t,)``.

  Without ``ref_logits`` this is ``logsumexp_a q(s, a)``. For ``q = M(r)``, ``V_q(root) = log Z``.

  Examples:
    >>> space = ae.SequenceSpace(3, 2)
    >>> q = space.random_tables(jax.random.PRNGKey(0))
    >>> v = ae.soft_values(q, space)       # (1,) and (3,) arrays: V_q(s) = log Σ_a e^{q(s, a)}
    >>> v[0][0]                            # the root's value: log Z of the EBM M⁻¹(q)
  """
  q = _check(q, space, "q")
  ref_logits = _check(ref_logits, space, "ref_logits", optional=True)
  return _soft_values(q, space, ref_logits)


@functools.partial(jax.jit, static_argnames="space")
def _soft_values(q, space, ref_logits):
  q, log_ref = _mask(q, space), _ref_log_policies(ref_logits, space)
  return tuple(_state_values(x, lr) for x, lr in zip(q, log_ref, strict=True))


def logits_to_rewards(q: Sequence[jax.Array], space: SequenceSpace,
                      ref_logits: Sequence[jax.Array] | None = None) -> tuple[jax.Array, ...]:
  r"""``r = M⁻¹(q)``: the token-level rewards implied by ARM logits ``q`` (Prop. 1).

  .. math:: r(s, a) = q(s, a) - [a \text{ not terminal}]\; V_q(s \oplus a)

  Local: the reward of one entry needs only the soft value of its child, so along one path it costs
  O(A · T) (see :func:`armebm_jax.token_values`). Entries with ``q = -inf`` give ``r = -inf``.

  Examples:
    >>> space = ae.SequenceSpace(3, 2, eos=True)
    >>> q = space.random_tables(jax.random.PRNGKey(0))          # any ARM's logits
    >>> r = ae.logits_to_rewards(q, space)                      # r(s, a) = q(s, a) − V_q(s ⊕ a)
    >>> ae.sup_distance(ae.rewards_to_logits(r, space), q, space)   # ≈ 0: M(M⁻¹(q)) = q
  """
  q = _check(q, space, "q")
  ref_logits = _check(ref_logits, space, "ref_logits", optional=True)
  return _inverse(q, space, ref_logits)


@functools.partial(jax.jit, static_argnames="space")
def _inverse(q, space, ref_logits):
  q, log_ref = _mask(q, space), _ref_log_policies(ref_logits, space)
  r = []
  for t in range(space.horizon - 1):
    v = _child_values(_state_values(q[t + 1], log_ref[t + 1]), space, t)
    r.append(jnp.where(q[t] == -jnp.inf, -jnp.inf, q[t] - v))
  return (*r, q[-1])


def log_policy(q: Sequence[jax.Array], space: SequenceSpace,
               ref_logits: Sequence[jax.Array] | None = None) -> tuple[jax.Array, ...]:
  r"""Next-token log-probabilities ``log π(a|s) = log π_ref(a|s) + q(s, a) − V_q(s)`` for every state.

  Examples:
    >>> space = ae.SequenceSpace(3, 2)
    >>> q = space.random_tables(jax.random.PRNGKey(0))
    >>> log_pi = ae.log_policy(q, space)               # log π(a|s) = q(s, a) − V_q(s)
    >>> jnp.exp(log_pi[1]).sum(-1)                     # every row sums to 1
  """
  q = _check(q, space, "q")
  ref_logits = _check(ref_logits, space, "ref_logits", optional=True)
  return _log_policy(q, space, ref_logits)


@functools.partial(jax.jit, static_argnames="space")
def _log_policy(q, space, ref_logits):
  q, log_ref = _mask(q, space), _ref_log_policies(ref_logits, space)
  return tuple(numerics.log_softmax(x if lr is None else x + lr, axis=-1)
               for x, lr in zip(q, log_ref, strict=True))
