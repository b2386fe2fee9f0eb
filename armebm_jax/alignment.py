"""KL-regularised alignment: the exact optimal policy against a reference (Blondel et al., 2026, Sec. 4, §6).

Post-training maximises ``E_{y~p}[R(y)] − β KL(p ‖ p_ref)``. Its maximiser is the EBM

.. math:: p^\\star(y) = \\frac{p_{\\mathrm{ref}}(y)\\, e^{R(y)/β}}{Z_β},\\qquad
   Z_β = \\sum_y p_{\\mathrm{ref}}(y) e^{R(y)/β},

and through the reference-measure soft Bellman recursion (App. A.5) it is the ARM with residual logits
``q = M_ref(r/β)``: ``π*(a|s) = π_ref(a|s) e^{q(s,a)} / Σ_b π_ref(b|s) e^{q(s,b)}``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from armebm_jax import bellman
from armebm_jax.partition import as_rewards
from armebm_jax.spaces import SequenceSpace

__all__ = ["kl_regularized_policy", "kl_regularized_value"]


def _reference_tables(ref, space: SequenceSpace):
  if hasattr(ref, "logit_tables"):  # a Flax ARM (TransformerARM, TabularARM)
    ref_space = getattr(ref, "space", None)
    if ref_space is not None and ref_space != space:
      raise ValueError(f"ref: the reference model is on {ref_space}, the reward on {space}")
    ref = ref.logit_tables()
  return bellman._check(ref, space, "ref")


def _rewards(rewards, space: SequenceSpace, beta) -> tuple[jax.Array, ...]:
  if isinstance(beta, bool) or not jnp.ndim(beta) == 0 or not float(beta) > 0:
    raise ValueError(f"beta: expected a positive scalar (KL strength), got {beta!r}")
  return tuple(x / beta for x in as_rewards(rewards, space))


def kl_regularized_policy(ref, rewards, space: SequenceSpace, beta: float) -> tuple[jax.Array, ...]:
  r"""Log-policy tables ``log π*(a|s)`` of the optimum of ``E_p[R] − β KL(p ‖ p_ref)``.

  .. math:: \log π^\star(a|s) = \log π_{\mathrm{ref}}(a|s) + q(s, a) - \log \sum_b π_{\mathrm{ref}}(b|s)
     e^{q(s, b)},\qquad q = M_{\mathrm{ref}}(r/β),

  so that ``p_ARM[π*](y) = p_ref(y) e^{R(y)/β} / Z_β`` exactly. One backward sweep, no enumeration.

  Args:
    ref: the reference policy: logit tables of ``space`` (any per-state shift), or a Flax ARM with
      ``logit_tables()`` and ``space``.
    rewards: token-level reward tables ``r``, or an ``(N,)`` array of sequence rewards ``R(y)`` in
      :meth:`SequenceSpace.sequences` order.
    space: the :class:`SequenceSpace`.
    beta: KL strength ``β > 0``; ``β → ∞`` gives ``π_ref``, ``β → 0`` the reward's argmax.

  Returns:
    Normalised log-probability tables (valid logits of ``π*``; forbidden entries ``-inf``).

  Examples:
    >>> space = ae.SequenceSpace(3, 3)
    >>> ref = space.random_tables(jax.random.PRNGKey(0))           # reference policy's logits
    >>> R = jnp.arange(27.0) / 27                                  # a sequence reward
    >>> log_pi = ae.kl_regularized_policy(ref, R, space, beta=0.5)
    >>> log_p = ae.sequence_log_probs(log_pi, space)               # = log p_ref + R/β − log Z_β
  """
  ref_q = _reference_tables(ref, space)
  r = _rewards(rewards, space, beta)
  q = bellman._rewards_to_logits(r, space, ref_q)
  return bellman._log_policy(q, space, ref_q)


def kl_regularized_value(ref, rewards, space: SequenceSpace, beta: float) -> jax.Array:
  r"""The optimal value ``max_p E_p[R] − β KL(p ‖ p_ref) = β log Z_β``, exactly (root soft value).

  Examples:
    >>> space = ae.SequenceSpace(3, 3)
    >>> ref = space.random_tables(jax.random.PRNGKey(0))
    >>> ae.kl_regularized_value(ref, jnp.arange(27.0) / 27, space, beta=0.5)   # max E[R] − β KL
  """
  ref_q = _reference_tables(ref, space)
  r = _rewards(rewards, space, beta)
  return beta * bellman._sweep(r, space, ref_q)[1][0][0]
