"""Masked logsumexp / log_softmax, centring, sup-norm, KL and entropy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import armebm_jax as ae


def test_logsumexp_matches_numpy_and_masks():
  x = np.random.default_rng(0).standard_normal((5, 7)) * 3
  np.testing.assert_allclose(ae.logsumexp(jnp.asarray(x), axis=-1),
                             np.log(np.exp(x).sum(-1)), rtol=1e-14)
  np.testing.assert_allclose(ae.logsumexp(jnp.asarray(x), axis=0, keepdims=True),
                             np.log(np.exp(x).sum(0, keepdims=True)), rtol=1e-14)
  mask = np.arange(7) < 4
  np.testing.assert_allclose(ae.logsumexp(jnp.asarray(x), where=mask),
                             np.log(np.exp(x[:, :4]).sum(-1)), rtol=1e-14)
  b = np.random.default_rng(1).standard_normal((5, 7))
  np.testing.assert_allclose(ae.logsumexp(jnp.asarray(x), bias=jnp.asarray(b)),
                             np.log(np.exp(x + b).sum(-1)), rtol=1e-14)


def test_empty_rows_give_minus_inf_with_zero_gradients():
  x = jnp.array([[-jnp.inf, -jnp.inf], [0.0, 1.0]])
  out = ae.logsumexp(x)
  assert out[0] == -jnp.inf and np.isfinite(out[1])
  g = jax.grad(lambda x: jnp.sum(jnp.where(jnp.isfinite(ae.logsumexp(x)), ae.logsumexp(x), 0.0)))(x)
  np.testing.assert_array_equal(g[0], [0.0, 0.0])
  np.testing.assert_allclose(g[1], jax.nn.softmax(x[1]), rtol=1e-14)
  # jax.nn.logsumexp gives NaN here: the reason this module exists.
  assert np.all(np.isnan(jax.grad(jax.nn.logsumexp)(jnp.full(2, -jnp.inf))))
  np.testing.assert_array_equal(jax.grad(ae.logsumexp)(jnp.full(2, -jnp.inf)), [0.0, 0.0])
  # Masked entries get zero gradient whatever they hold.
  g = jax.grad(lambda x: ae.logsumexp(x, where=jnp.array([True, False, True])))(jnp.ones(3))
  np.testing.assert_allclose(g, [0.5, 0.0, 0.5])
  ls = ae.log_softmax(x)
  assert np.all(ls[0] == -np.inf) and not np.any(np.isnan(ls))


def test_large_magnitudes_float32():
  x = jnp.array([1e4, -1e4, 1e4 - 1.0], jnp.float32)
  np.testing.assert_allclose(ae.logsumexp(x), 1e4 + np.log1p(np.exp(-1.0)), rtol=1e-7)
  assert np.all(np.isfinite(jax.grad(ae.logsumexp)(x)))


def test_center_and_max_abs_diff():
  x = jnp.array([[1.0, 2.0, 6.0], [0.0, 3.0, -jnp.inf]])
  mask = jnp.array([[True, True, True], [True, True, False]])
  c = ae.center(x, where=mask)
  np.testing.assert_allclose(c[0], [-2.0, -1.0, 3.0])
  np.testing.assert_allclose(c[1, :2], [-1.5, 1.5])
  assert c[1, 2] == -jnp.inf
  y = jnp.array([[1.5, 2.0, 6.0], [0.0, 1.0, -jnp.inf]])
  assert ae.max_abs_diff(x, y, where=mask) == 2.0
  assert ae.max_abs_diff(x, y.at[1, 1].set(3.0)) == 0.5  # -inf vs -inf counts as 0
  assert ae.max_abs_diff(x, y.at[1, 2].set(0.0)) == jnp.inf


def test_kl_and_entropy_against_numpy():
  rng = np.random.default_rng(2)
  p, q = rng.dirichlet(np.ones(6)), rng.dirichlet(np.ones(6))
  p[2] = 0.0
  p /= p.sum()
  lp, lq = jnp.log(jnp.asarray(p)), jnp.log(jnp.asarray(q))
  nz = p > 0
  np.testing.assert_allclose(ae.kl_divergence(lp, lq), np.sum(p[nz] * np.log(p[nz] / q[nz])), rtol=1e-13)
  np.testing.assert_allclose(ae.entropy(lp), -np.sum(p[nz] * np.log(p[nz])), rtol=1e-13)
  assert ae.kl_divergence(lq, lp) == jnp.inf  # q puts mass where p has none
  assert ae.kl_divergence(lp, lp) == 0.0
  g = jax.grad(ae.kl_divergence, argnums=1)(lp, lq)
  assert np.all(np.isfinite(g))
  with pytest.raises(ValueError, match="log_q"):
    ae.kl_divergence(lp, lq[:3])


def test_zipf_like_entropy_via_ebm_log_probs():
  """Entropy of Zipf(1.15) over 4,096 sequences (PAPER.md §8) through ebm_log_probs of its scores."""
  ranks = np.arange(1, 4097, dtype=np.float64)
  scores = -1.15 * np.log(ranks)
  np.testing.assert_allclose(ae.entropy(ae.ebm_log_probs(jnp.asarray(scores))), 5.053137334770945,
                             rtol=1e-13)
