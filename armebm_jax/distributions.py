"""Sequence distributions of ARMs and EBMs over a space, and divergences (Blondel et al., 2026, Sec. 2).

* ARM: ``p_ARM[q](y) = Π_t π_q(y_t | s_t)``.
* EBM: ``p_EBM[R](y) = exp R(y) / Z``, with ``R_r(y) = Σ_t r(s_t, y_t)`` for token-level rewards.

Vectors over sequences are ``(N,)`` in :meth:`SequenceSpace.sequences` order. They are built by a
forward sweep over depths (prefix sums along the tree), never by a loop over sequences.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from armebm_jax import bellman, numerics
from armebm_jax.spaces import SequenceSpace

__all__ = [
    "sequence_log_probs",
    "sequence_rewards",
    "prefix_marginals",
    "ebm_log_probs",
    "kl_divergence",
    "entropy",
]


@functools.partial(jax.jit, static_argnames="space")
def _path_sums(tables: Sequence[jax.Array], space: SequenceSpace) -> jax.Array:
  """``(N,)``: for every sequence, the sum of its entries along its path, in ``sequences()`` order."""
  V, T = space.vocab_size, space.horizon
  acc = jnp.zeros((1,), tables[0].dtype)  # sum over the prefix, for every state of depth t
  ends = []
  for t in range(T):
    if space.eos:
      ends.append(acc + tables[t][:, V])
    if t < T - 1 or not space.eos:
      acc = (acc[:, None] + tables[t][:, :V]).reshape(-1)
  return jnp.concatenate(ends) if space.eos else acc


def sequence_rewards(r: Sequence[jax.Array], space: SequenceSpace) -> jax.Array:
  r"""``R_r(y) = Σ_t r(s_t, y_t)`` for every sequence: ``(N,)`` in ``sequences()`` order.

  Examples:
    >>> space = ae.SequenceSpace(2, 3, eos=True)
    >>> r = space.random_tables(jax.random.PRNGKey(0))
    >>> R = ae.sequence_rewards(r, space)       # (N,) = (7,): Σ_t r(s_t, y_t), sequences() order
  """
  r = bellman._check(r, space, "r")
  return _path_sums(bellman._mask(r, space), space)


def sequence_log_probs(q: Sequence[jax.Array], space: SequenceSpace,
                       ref_logits: Sequence[jax.Array] | None = None) -> jax.Array:
  r"""``log p_ARM[q](y) = Σ_t log π_q(y_t | s_t)`` for every sequence: ``(N,)``, sums to one in prob.

  With ``ref_logits``, ``π_q ∝ π_ref · exp q`` (App. A.5). Sequences through a ``-inf`` logit get
  ``-inf``.

  Examples:
    >>> space = ae.SequenceSpace(2, 3, eos=True)
    >>> q = space.random_tables(jax.random.PRNGKey(0))
    >>> log_p = ae.sequence_log_probs(q, space)      # (7,) log Π_t π(y_t | s_t)
    >>> jnp.exp(log_p).sum()                         # 1
  """
  q = bellman._check(q, space, "q")
  ref_logits = bellman._check(ref_logits, space, "ref_logits", optional=True)
  return _path_sums(bellman._log_policy(q, space, ref_logits), space)


def prefix_marginals(q: Sequence[jax.Array], space: SequenceSpace,
                     ref_logits: Sequence[jax.Array] | None = None) -> tuple[jax.Array, ...]:
  r"""Probability that a response of the ARM passes through each state–action pair: tables.

  .. math:: \mu(s_t, a) = p(y_{<t} = s_t)\, \pi_q(a | s_t) = p(y_{\le t} = s_t \oplus a)

  For ``q = M(r)`` this is ``∂ log Z / ∂ r(s, a)`` (Sec. 3.3). Forbidden entries are 0.

  Examples:
    >>> space = ae.SequenceSpace(2, 2)
    >>> q = space.random_tables(jax.random.PRNGKey(0))
    >>> m = ae.prefix_marginals(q, space)        # m[t][s, a] = P(response passes through (s, a))
    >>> m[0].sum()                               # 1: every response takes one first action
  """
  q = bellman._check(q, space, "q")
  ref_logits = bellman._check(ref_logits, space, "ref_logits", optional=True)
  return _prefix_marginals(q, space, ref_logits)


@functools.partial(jax.jit, static_argnames="space")
def _prefix_marginals(q, space, ref_logits):
  log_pi = bellman._log_policy(q, space, ref_logits)
  log_state = jnp.zeros((1,), log_pi[0].dtype)
  out = []
  for t, lp in enumerate(log_pi):
    joint = log_state[:, None] + lp
    out.append(jnp.exp(joint))
    if t < space.horizon - 1:
      log_state = joint[:, : space.vocab_size].reshape(-1)
  return tuple(out)


def ebm_log_probs(scores: jax.Array) -> jax.Array:
  r"""``log p_EBM(y) = R(y) − log Σ_y' exp R(y')`` for a ``(N,)`` vector of sequence scores.

  Examples:
    >>> log_p = ae.ebm_log_probs(jnp.array([0.0, 1.0, 2.0, 3.0]))   # R − logsumexp R
    >>> jnp.exp(log_p).sum()                                        # 1
  """
  return numerics.log_softmax(jnp.asarray(scores), axis=-1)


def _check_log_probs(name: str, x) -> jax.Array:
  x = jnp.asarray(x)
  if x.ndim != 1:
    raise ValueError(f"{name}: expected a (N,) vector of log-probabilities, got shape {x.shape}")
  return x


def kl_divergence(log_p: jax.Array, log_q: jax.Array) -> jax.Array:
  r"""``KL(p ‖ q) = Σ_y p(y) (log p(y) − log q(y))`` from ``(N,)`` log-probabilities; ``0 log 0 = 0``.

  Examples:
    >>> log_p = jnp.log(jnp.array([0.5, 0.5]))
    >>> log_q = jnp.log(jnp.array([0.9, 0.1]))
    >>> ae.kl_divergence(log_p, log_q)            # 0.5 log(0.5/0.9) + 0.5 log(0.5/0.1) ≈ 0.511
  """
  log_p, log_q = _check_log_probs("log_p", log_p), _check_log_probs("log_q", log_q)
  if log_p.shape != log_q.shape:
    raise ValueError(f"log_q: expected shape {log_p.shape} (that of log_p), got {log_q.shape}")
  support = log_p > -jnp.inf
  diff = jnp.where(support, log_p - jnp.where(support, log_q, 0.0), 0.0)
  return jnp.sum(jnp.where(support, jnp.exp(log_p) * diff, 0.0))


def entropy(log_p: jax.Array) -> jax.Array:
  r"""``H(p) = −Σ_y p(y) log p(y)`` from ``(N,)`` log-probabilities; ``0 log 0 = 0``.

  Examples:
    >>> ae.entropy(jnp.log(jnp.full(4, 0.25)))   # log 4
  """
  log_p = _check_log_probs("log_p", log_p)
  support = log_p > -jnp.inf
  return -jnp.sum(jnp.where(support, jnp.exp(log_p) * jnp.where(support, log_p, 0.0), 0.0))
