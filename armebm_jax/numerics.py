"""Numerics shared by every module: masked log-sum-exp, log-softmax, centring, sup-norms.

The soft value of a state, ``V_q(s) = log Σ_a exp q(s, a)`` (Blondel et al., 2026, Sec. 2), is the one
reduction the whole library is built on. It is computed here, once, with two guarantees that
``jax.nn.logsumexp`` does not give:

* a row whose entries are all ``-inf`` (an empty future, or a masked row) gives ``-inf`` with a
  **finite, zero** gradient instead of NaN;
* entries excluded by ``where`` get a zero gradient, whatever value they hold.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["logsumexp", "log_softmax", "center", "max_abs_diff"]


def logsumexp(x: jax.Array, axis: int = -1, where: jax.Array | None = None,
              keepdims: bool = False, bias: jax.Array | None = None) -> jax.Array:
  r"""Masked, gradient-safe log-sum-exp.

  .. math:: \operatorname{lse}(x + b) = m + \log \sum_i [w_i]\, e^{x_i + b_i - m}, \qquad
            m = \max_i (x_i + b_i)

  Args:
    x: array of logits.
    axis: the axis to reduce.
    where: optional boolean mask broadcastable to ``x``; ``False`` entries count as ``-inf``.
    keepdims: keep the reduced axis with size one.
    bias: optional array added to ``x`` inside the reduction (e.g. reference log-probabilities),
      written so that under jit ``x + bias`` is never materialised (no ``x``-sized temporary).

  Returns:
    ``x``'s log-sum-exp over ``axis``; ``-inf`` for rows with no finite entry, whose gradient is 0.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> float(ae.logsumexp(jnp.log(jnp.array([1.0, 2.0, 3.0]))))  # log 6
    1.791759...
    >>> jax.grad(ae.logsumexp)(jnp.full(3, -jnp.inf))
    Array([0., 0., 0.], dtype=float32)
  """
  x = jnp.asarray(x)
  if where is not None:
    x = jnp.where(where, x, -jnp.inf)
  axis = axis % x.ndim
  if 0 < x.shape[axis] <= _UNROLL_MAX:
    m, s = _max_sumexp_unrolled(x, axis, bias)
  else:
    m = jnp.max(x if bias is None else x + bias, axis=axis, keepdims=True)
    m = jax.lax.stop_gradient(jnp.where(jnp.isfinite(m), m, jnp.zeros_like(m)))
    # (x − m) + bias is a different expression from the max's x + bias, so XLA does not share (and
    # materialise) one x-sized sum between the two reductions: each fuses its own elementwise input.
    s = jnp.sum(jnp.exp(x - m if bias is None else (x - m) + bias), axis=axis, keepdims=True)
  nonempty = s > 0
  out = jnp.where(nonempty, jnp.log(jnp.where(nonempty, s, jnp.ones_like(s))) + m, -jnp.inf)
  return out if keepdims else jnp.squeeze(out, axis=axis)


# Reductions over a short axis (the A actions of a tree table) are written as elementwise ops over
# its slices: XLA:CPU runs a row-wise reduce over a tiny minor axis several times slower than the
# same arithmetic on whole columns (benchmarks/bench_bellman.py measures this).
_UNROLL_MAX = 16


def _max_sumexp_unrolled(x, axis, bias):
  cols = [jax.lax.index_in_dim(x, a, axis) for a in range(x.shape[axis])]
  if bias is not None:
    bias = jnp.broadcast_to(bias, x.shape)
    bcols = [jax.lax.index_in_dim(bias, a, axis) for a in range(x.shape[axis])]
  m = cols[0] if bias is None else cols[0] + bcols[0]
  for a in range(1, len(cols)):
    m = jnp.maximum(m, cols[a] if bias is None else cols[a] + bcols[a])
  m = jax.lax.stop_gradient(jnp.where(jnp.isfinite(m), m, jnp.zeros_like(m)))
  s = None
  for a, c in enumerate(cols):
    e = jnp.exp(c - m if bias is None else (c - m) + bcols[a])
    s = e if s is None else s + e
  return m, s


def log_softmax(x: jax.Array, axis: int = -1, where: jax.Array | None = None) -> jax.Array:
  r"""Masked log-softmax ``x − lse(x)``; masked and ``-inf`` entries give ``-inf``, never NaN.

  .. math:: \log \pi(a) = x_a - \log \sum_b e^{x_b}

  Examples:
    >>> ae.log_softmax(jnp.array([0.0, 0.0, -jnp.inf]))     # [log ½, log ½, -inf]
  """
  x = jnp.asarray(x)
  if where is not None:
    x = jnp.where(where, x, -jnp.inf)
  lse = logsumexp(x, axis=axis, keepdims=True)
  return jnp.where(x == -jnp.inf, -jnp.inf, x - lse)


def center(x: jax.Array, axis: int = -1, where: jax.Array | None = None) -> jax.Array:
  r"""Subtract the mean over ``axis`` (over ``where`` entries only); excluded entries keep their value.

  Logits are identified only up to an additive constant per state (softmax shift), so the paper
  compares them after centring: :math:`c_{-1}(q)(s, a) = q(s, a) - \frac{1}{|A_s|}\sum_b q(s, b)`.
  A valid entry of ``-inf`` makes its row's mean ``-inf``: centre finite logits only.

  Examples:
    >>> ae.center(jnp.array([[1.0, 3.0], [0.0, -jnp.inf]]), axis=-1)
  """
  x = jnp.asarray(x)
  if where is None:
    return x - jnp.mean(x, axis=axis, keepdims=True)
  where = jnp.broadcast_to(where, x.shape)
  total = jnp.sum(jnp.where(where, x, jnp.zeros_like(x)), axis=axis, keepdims=True)
  count = jnp.maximum(jnp.sum(where, axis=axis, keepdims=True), 1)
  return jnp.where(where, x - total / count.astype(x.dtype), x)


def max_abs_diff(x: jax.Array, y: jax.Array, where: jax.Array | None = None) -> jax.Array:
  r"""``max |x − y|`` over ``where`` entries; entries equal in both (e.g. ``-inf`` and ``-inf``) count as 0.

  This is the sup-norm of Prop. 3 (Blondel et al., 2026), where logits that are ``-inf`` in both
  arguments (forbidden actions) contribute nothing. Returns 0 when no entry is selected.

  Examples:
    >>> ae.max_abs_diff(jnp.array([0.0, -jnp.inf]), jnp.array([0.5, -jnp.inf]))   # 0.5
  """
  x, y = jnp.asarray(x), jnp.asarray(y)
  d = jnp.where(x == y, jnp.zeros((), jnp.result_type(x, y)), jnp.abs(x - y))
  if where is not None:
    d = jnp.where(where, d, jnp.zeros_like(d))
  return jnp.max(d, initial=0.0)
