"""Data distributions ρ over the sequences of a space (Blondel et al., 2026, Sec. 5, App. C).

Each target is a ``(N,)`` pmf in :meth:`SequenceSpace.sequences` order, with its entropy (the minimum
risk ``L* = H(ρ)`` of Prop. 2) and a minibatch sampler.

* :func:`zipf`: ``ρ(y) ∝ rank(y)^{-s}``; rank = lexicographic base-V rank + 1 by default (the paper does
  not state the order; exponent 1.15 by default).
* :func:`softmax_normal`: ``ρ = softmax(z / τ)``, ``z ~ N(0, I)``, ``τ = 0.1`` by default.
* :func:`from_pmf`: any explicit pmf.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from armebm_jax import distributions
from armebm_jax.spaces import SequenceSpace

__all__ = ["Target", "zipf", "softmax_normal", "from_pmf"]


@dataclasses.dataclass(frozen=True, eq=False)
class Target:
  """A pmf over the sequences of ``space``: ``log_probs`` is ``(N,)`` in ``sequences()`` order."""

  space: SequenceSpace
  log_probs: jax.Array
  name: str = "target"

  @property
  def probs(self) -> jax.Array:
    return jnp.exp(self.log_probs)

  def entropy(self) -> jax.Array:
    """``H(ρ) = −Σ ρ log ρ``: the minimum achievable risk ``L*`` (Prop. 2)."""
    return distributions.entropy(self.log_probs)

  def sample(self, key: jax.Array, batch_size: int) -> jax.Array:
    """``(batch_size, T)`` int32 sequences drawn i.i.d. from ρ (EOS-padded)."""
    idx = jax.random.categorical(key, self.log_probs, shape=(batch_size,))
    return jnp.asarray(self.space.sequences())[idx]


def from_pmf(space: SequenceSpace, pmf, name: str = "pmf") -> Target:
  """A target from an explicit ``(N,)`` pmf (non-negative, summing to one within 1e-6).

  Examples:
    >>> from armebm_jax import targets
    >>> rho = targets.from_pmf(ae.SequenceSpace(2, 2), [0.1, 0.2, 0.3, 0.4])
  """
  pmf = np.asarray(pmf, np.float64)
  if pmf.shape != (space.num_sequences,):
    raise ValueError(f"pmf: expected shape ({space.num_sequences},) (one entry per sequence of "
                     f"{space}), got {pmf.shape}")
  if np.any(pmf < 0) or not np.isclose(pmf.sum(), 1.0, atol=1e-6):
    raise ValueError(f"pmf: expected non-negative entries summing to 1, got sum {pmf.sum():.6g} "
                     f"and min {pmf.min():.3g}")
  with np.errstate(divide="ignore"):
    log_probs = np.log(pmf / pmf.sum())
  return Target(space, jnp.asarray(log_probs, jnp.result_type(float)), name)


def zipf(space: SequenceSpace, exponent: float = 1.15, ranks=None) -> Target:
  """Zipf target ``ρ(y) ∝ rank(y)^{-exponent}``; ``ranks`` (1..N, ``sequences()`` order) default to 1..N.

  Examples:
    >>> from armebm_jax import targets
    >>> rho = targets.zipf(ae.SequenceSpace(8, 4), exponent=1.15)
    >>> rho.entropy()                     # 5.0531… (PAPER.md §8)
  """
  n = space.num_sequences
  ranks = np.arange(1, n + 1, dtype=np.float64) if ranks is None else np.asarray(ranks, np.float64)
  if ranks.shape != (n,):
    raise ValueError(f"ranks: expected shape ({n},), got {ranks.shape}")
  scores = -exponent * np.log(ranks)
  log_probs = scores - np.logaddexp.reduce(scores)
  return Target(space, jnp.asarray(log_probs, jnp.result_type(float)), f"zipf({exponent:g})")


def softmax_normal(space: SequenceSpace, key: jax.Array, temperature: float = 0.1) -> Target:
  """``ρ = softmax(z / temperature)`` with ``z ~ N(0, I_N)`` drawn from ``key``.

  Examples:
    >>> from armebm_jax import targets
    >>> rho = targets.softmax_normal(ae.SequenceSpace(4, 3), jax.random.PRNGKey(0), temperature=0.1)
    >>> rho.sample(jax.random.PRNGKey(1), 5)     # (5, 3) sequences drawn from ρ
  """
  if temperature <= 0:
    raise ValueError(f"temperature: expected > 0, got {temperature}")
  z = jax.random.normal(key, (space.num_sequences,), jnp.result_type(float))
  return Target(space, jax.nn.log_softmax(z / temperature), f"softmax_normal({temperature:g})")
