"""KL-regularised optimum against a reference policy: equal to p_ref·exp(R/β)/Z by brute force."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import armebm_jax as ae
from armebm_jax.alignment import kl_regularized_policy, kl_regularized_value
from armebm_jax.models import TabularARM
from tests import brute

jax.config.update("jax_enable_x64", True)


def _unpad(y, space):
  y = [int(a) for a in y]
  return tuple(y[: y.index(space.eos_id) + 1]) if space.eos else tuple(y)


@pytest.mark.parametrize("space", [ae.SequenceSpace(3, 3, False), ae.SequenceSpace(2, 4, True),
                                   ae.SequenceSpace(4, 2, True)], ids=["V3T3fix", "V2T4eos", "V4T2eos"])
@pytest.mark.parametrize("beta", [0.3, 1.0, 4.0])
def test_optimum_equals_brute_force(space, beta):
  ref = space.random_tables(jax.random.PRNGKey(0), dtype=jnp.float64)
  r = space.random_tables(jax.random.PRNGKey(1), dtype=jnp.float64)
  log_pi = kl_regularized_policy(ref, r, space, beta)
  got = np.asarray(ae.sequence_log_probs(log_pi, space))
  want, _ = brute.ebm_log_probs([np.asarray(x) / beta for x in r], space.vocab_size, space.horizon,
                                space.eos, ref=ref)
  np.testing.assert_allclose(got, [want[_unpad(y, space)] for y in space.sequences()], atol=1e-12)
  # rows are normalised log-probabilities
  for t in log_pi:
    np.testing.assert_allclose(jax.scipy.special.logsumexp(t, axis=-1), 0.0, atol=1e-12)
  # the optimal value E_p[R] − β KL(p ‖ p_ref) = β log Z_β
  p = np.exp(got)
  R = np.asarray(ae.sequence_rewards(r, space))
  log_ref = np.asarray(ae.sequence_log_probs(ref, space))
  value = np.sum(p * R) - beta * np.sum(p * (got - log_ref))
  np.testing.assert_allclose(float(kl_regularized_value(ref, r, space, beta)), value, atol=1e-10)


def test_sequence_scores_and_model_reference():
  space = ae.SequenceSpace(3, 3, True)
  R = jax.random.normal(jax.random.PRNGKey(2), (space.num_sequences,), jnp.float64)
  ref_model = TabularARM(space, rngs=nnx.Rngs(0), scale=1.0, param_dtype=jnp.float64)
  log_pi = kl_regularized_policy(ref_model, R, space, 0.5)
  want = np.asarray(ae.sequence_log_probs(ref_model.logit_tables(), space)) + 2 * np.asarray(R)
  want -= np.logaddexp.reduce(want)
  np.testing.assert_allclose(ae.sequence_log_probs(log_pi, space), want, atol=1e-12)
  # β → ∞ returns the reference policy; small β concentrates on argmax R
  far = kl_regularized_policy(ref_model, R, space, 1e6)
  np.testing.assert_allclose(ae.sequence_log_probs(far, space),
                             ae.sequence_log_probs(ref_model.logit_tables(), space), atol=1e-5)
  cold = np.exp(np.asarray(ae.sequence_log_probs(kl_regularized_policy(ref_model, R, space, 0.01),
                                                 space)))
  assert cold[int(np.argmax(R))] > 0.99


def test_bad_inputs():
  space = ae.SequenceSpace(3, 3, False)
  ref = space.full_tables(0.0)
  R = jnp.zeros(space.num_sequences)
  for beta in (0.0, -1.0):
    with pytest.raises(ValueError, match="beta"):
      kl_regularized_policy(ref, R, space, beta)
  with pytest.raises(ValueError, match="scores"):
    kl_regularized_policy(ref, jnp.zeros(5), space, 1.0)
  with pytest.raises(ValueError, match="ref"):
    kl_regularized_policy(ae.SequenceSpace(3, 2).full_tables(0.0), R, space, 1.0)
  other = TabularARM(ae.SequenceSpace(3, 3, True))
  with pytest.raises(ValueError, match="ref"):
    kl_regularized_policy(other, R, space, 1.0)
