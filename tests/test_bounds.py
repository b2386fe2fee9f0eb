"""Prop. 3: KL between p_ARM[q] and p_EBM[R_r], in both directions, is at most 2T·‖M(r) − q‖∞."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import armebm_jax as ae
from tests.helpers import SMALL_SPACES, random_tables, space_id


@pytest.mark.parametrize("space", SMALL_SPACES, ids=space_id)
def test_prop3_bound_holds_both_directions(space):
  r = random_tables(space, 0)
  m = ae.rewards_to_logits(r, space)
  log_p_ebm = ae.ebm_log_probs(ae.sequence_rewards(r, space))
  np.testing.assert_allclose(ae.kl_bound(m, r, space), 0.0, atol=1e-12)
  rng = np.random.default_rng(1)
  for eps in (1e-3, 1e-1, 1.0, 5.0):
    noise = tuple(jnp.where(mask, eps * rng.uniform(-1, 1, mask.shape), 0.0)
                  for mask in space.valid_masks())
    q = tuple(x + n for x, n in zip(m, noise, strict=True))
    bound = float(ae.kl_bound(q, r, space))
    sup = max(float(np.max(np.abs(np.asarray(n)))) for n in noise)
    np.testing.assert_allclose(bound, 2 * space.horizon * sup, rtol=1e-12)
    log_p_arm = ae.sequence_log_probs(q, space)
    kl_fwd = float(ae.kl_divergence(log_p_arm, log_p_ebm))
    kl_rev = float(ae.kl_divergence(log_p_ebm, log_p_arm))
    assert 0.0 <= kl_fwd <= bound + 1e-12
    assert 0.0 <= kl_rev <= bound + 1e-12


def test_prop3_with_reference_and_float32():
  space = ae.SequenceSpace(3, 3, eos=True)
  r, ref = random_tables(space, 2, jnp.float32), random_tables(space, 3, jnp.float32)
  m = ae.rewards_to_logits(r, space, ref_logits=ref)
  q = tuple(x + 0.3 * jnp.sin(jnp.arange(x.size, dtype=x.dtype).reshape(x.shape)) for x in m)
  q = space.mask_invalid(q)
  bound = ae.kl_bound(q, r, space, ref_logits=ref)
  assert bound.dtype == jnp.float32
  log_p = ae.sequence_log_probs(q, space, ref_logits=ref)
  log_target = ae.ebm_log_probs(ae.sequence_rewards(r, space) + ae.sequence_log_probs(ref, space))
  assert ae.kl_divergence(log_p, log_target) <= bound
  assert ae.kl_divergence(log_target, log_p) <= bound


def test_sup_distance_ignores_forbidden_and_counts_matching_minus_inf_as_zero():
  space = ae.SequenceSpace(2, 2, eos=True)
  a = space.full_tables(0.0, jnp.float64)
  b = (a[0].at[0, 2].set(0.25), a[1])
  assert ae.sup_distance(a, b, space) == 0.25
  c = (a[0].at[0, 1].set(-jnp.inf), a[1])  # a valid entry at -inf against a finite one
  assert ae.sup_distance(a, c, space) == jnp.inf
  assert ae.sup_distance(c, c, space) == 0.0


def test_kl_bound_is_differentiable():
  space = ae.SequenceSpace(2, 3)
  r = random_tables(space, 4)
  q = random_tables(space, 5)
  g = jax.grad(lambda q: ae.kl_bound(q, r, space))(q)
  assert all(np.all(np.isfinite(x)) for x in g)
  assert sum(int(np.sum(np.asarray(x) != 0)) for x in g) == 1  # sub-gradient at the arg-max
