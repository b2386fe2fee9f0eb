"""Distances between logits and the Prop. 3 certificate (Blondel et al., 2026, Lemma 1, Prop. 3, Sec. 5).

Prop. 3: for ARM logits ``q`` and token-level rewards ``r``,

.. math::
   \\mathrm{KL}(p_{\\mathrm{ARM}}[q] \\,\\|\\, p_{\\mathrm{EBM}}[R_r])
   \\le 2T \\max_{s, a} |M(r)(s, a) - q(s, a)|,

and the same bound holds in the reverse direction. Entries that are ``-inf`` in both count as 0.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from armebm_jax import bellman, numerics
from armebm_jax.spaces import SequenceSpace

__all__ = ["sup_distance", "center_logits", "kl_bound"]


def center_logits(q: Sequence[jax.Array], space: SequenceSpace) -> tuple[jax.Array, ...]:
  r"""Centre logits over the allowed actions of every state: :math:`c_{-1}(q) = q - \mathrm{mean}_a q`.

  Logits are identified only up to a per-state constant; this is the paper's ``c₋₁`` (Sec. 5).
  Forbidden entries stay ``-inf``.

  Examples:
    >>> space = ae.SequenceSpace(3, 2)
    >>> q = space.random_tables(jax.random.PRNGKey(0))
    >>> shifted = tuple(x + 5.0 for x in q)                 # the same ARM
    >>> ae.sup_distance(ae.center_logits(q, space), ae.center_logits(shifted, space), space)   # 0
  """
  q = bellman._check(q, space, "q")
  return _center_logits(q, space)


@functools.partial(jax.jit, static_argnames="space")
def _center_logits(q, space):
  return tuple(numerics.center(x, axis=-1, where=m)
               for x, m in zip(bellman._mask(q, space), space.valid_masks(), strict=True))


def sup_distance(a: Sequence[jax.Array], b: Sequence[jax.Array], space: SequenceSpace) -> jax.Array:
  r"""``max |a(s, x) − b(s, x)|`` over the allowed entries of two tuples of tables (both ``-inf``: 0).

  Examples:
    >>> space = ae.SequenceSpace(3, 2)
    >>> a = space.full_tables(0.0)
    >>> b = space.full_tables(0.5)
    >>> ae.sup_distance(a, b, space)         # 0.5
  """
  a = space.check_tables(a, "a", check_values=False)
  b = space.check_tables(b, "b", check_values=False)
  return _sup_distance(a, b, space)


@functools.partial(jax.jit, static_argnames="space")
def _sup_distance(a, b, space):
  return jnp.max(jnp.stack([numerics.max_abs_diff(x, y, where=m)
                            for x, y, m in zip(a, b, space.valid_masks(), strict=True)]))


def kl_bound(q: Sequence[jax.Array], r: Sequence[jax.Array], space: SequenceSpace,
             ref_logits: Sequence[jax.Array] | None = None) -> jax.Array:
  r"""Prop. 3 certificate: ``2T · max_{s,a} |M(r)(s, a) − q(s, a)|`` over allowed entries.

  Bounds both ``KL(p_ARM[q] ‖ p_EBM[R_r])`` and ``KL(p_EBM[R_r] ‖ p_ARM[q])`` without enumerating
  sequences. It is not shift-invariant: logits that differ from ``M(r)`` by a per-state constant
  define the same ARM, so centre both (:func:`center_logits`) for a tighter certificate.

  Examples:
    >>> space = ae.SequenceSpace(3, 2)
    >>> r = space.random_tables(jax.random.PRNGKey(0))
    >>> noise = lambda x: 0.01 * jax.random.normal(jax.random.PRNGKey(1), x.shape)
    >>> q = tuple(x + noise(x) for x in ae.rewards_to_logits(r, space))    # an approximate ARM
    >>> log_p_ebm = ae.ebm_log_probs(ae.sequence_rewards(r, space))
    >>> kl = ae.kl_divergence(log_p_ebm, ae.sequence_log_probs(q, space))
    >>> bool(kl <= ae.kl_bound(q, r, space))     # True (Prop. 3)
  """
  q = bellman._check(q, space, "q")
  r = bellman._check(r, space, "r")
  ref_logits = bellman._check(ref_logits, space, "ref_logits", optional=True)
  return _kl_bound(q, r, space, ref_logits)


@functools.partial(jax.jit, static_argnames="space")
def _kl_bound(q, r, space, ref_logits):
  m = bellman._sweep(r, space, ref_logits)[0]
  return 2 * space.horizon * _sup_distance(m, bellman._mask(q, space), space)
