"""Samplers: exact EBM samples, ancestral samples from tables and Flax ARMs, importance sampling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import armebm_jax as ae
from armebm_jax.models import TabularARM, TransformerARM
from armebm_jax.sampling import (
    importance_sample,
    response_log_probs,
    sample_ebm,
    sample_model,
    sample_tables,
    table_score_fn,
)

jax.config.update("jax_enable_x64", True)

SPACES = [ae.SequenceSpace(3, 3, False), ae.SequenceSpace(3, 3, True), ae.SequenceSpace(2, 4, True)]
IDS = ["V3T3fix", "V3T3eos", "V2T4eos"]


def _tv(samples, log_p, space):
  """Total variation between the empirical law of ``samples`` and exp(log_p)."""
  idx = np.asarray(jax.vmap(space.sequence_index)(samples))
  freq = np.bincount(idx, minlength=space.num_sequences) / len(idx)
  return 0.5 * np.abs(freq - np.exp(np.asarray(log_p))).sum()


def _well_formed(samples, space):
  s = np.asarray(samples)
  assert s.dtype == np.int32 and s.shape[1] == space.horizon
  if space.eos:  # exactly one EOS run at the end, padding is EOS
    for row in s[:50]:
      k = int(np.argmax(row == space.eos_id))
      assert row[k] == space.eos_id and np.all(row[k:] == space.eos_id) and np.all(row[:k] < space.vocab_size)
  else:
    assert s.max() < space.vocab_size


@pytest.mark.parametrize("space", SPACES, ids=IDS)
def test_sequence_index_matches_enumeration(space):
  idx = jax.vmap(space.sequence_index)(jnp.asarray(space.sequences()))
  np.testing.assert_array_equal(np.asarray(idx), np.arange(space.num_sequences))


# n = 100k draws; with at most 31 outcomes the expected TV of an exact sampler is about
# sqrt(N / (2π n)) ≈ 0.007, so 0.02 fails any sampler off by a few percent on one sequence.
@pytest.mark.parametrize("space", SPACES, ids=IDS)
def test_exact_ebm_samples_match_p_ebm(space):
  R = 1.5 * jax.random.normal(jax.random.PRNGKey(0), (space.num_sequences,), jnp.float64)
  samples = sample_ebm(jax.random.PRNGKey(1), R, space, 100_000)
  _well_formed(samples, space)
  assert _tv(samples, ae.ebm_log_probs(R), space) < 0.02
  # reward tables give the same law; temperature τ samples exp(R/τ)
  r = ae.scores_to_rewards(R, space)
  assert _tv(sample_ebm(jax.random.PRNGKey(2), r, space, 100_000), ae.ebm_log_probs(R), space) < 0.02
  assert _tv(sample_ebm(jax.random.PRNGKey(3), R, space, 100_000, temperature=2.0),
             ae.ebm_log_probs(R / 2), space) < 0.02


@pytest.mark.parametrize("space", SPACES, ids=IDS)
def test_ancestral_samples_of_tables_and_models(space):
  r = space.random_tables(jax.random.PRNGKey(4), dtype=jnp.float64)
  q = ae.rewards_to_logits(r, space)
  samples = sample_tables(jax.random.PRNGKey(5), q, space, 100_000)
  _well_formed(samples, space)
  assert _tv(samples, ae.sequence_log_probs(q, space), space) < 0.02
  cold = sample_tables(jax.random.PRNGKey(6), q, space, 100_000, temperature=0.5)
  q2 = tuple(x * 2 for x in q)
  assert _tv(cold, ae.sequence_log_probs(q2, space), space) < 0.02
  tab = TabularARM(space, rngs=nnx.Rngs(0), scale=1.0)
  tf = TransformerARM(vocab_size=space.vocab_size, horizon=space.horizon, num_layers=1, num_heads=1,
                      dim=8, mlp_dim=8, eos=space.eos, rngs=nnx.Rngs(0))
  for model in (tab, tf):
    samples = sample_model(jax.random.PRNGKey(7), model, 50_000)
    _well_formed(samples, space)
    assert _tv(samples, ae.sequence_log_probs(model.logit_tables(), space), space) < 0.03


@pytest.mark.parametrize("space", SPACES, ids=IDS)
def test_response_log_probs_and_importance_sampling(space):
  q = space.random_tables(jax.random.PRNGKey(8), dtype=jnp.float64)
  seqs = jnp.asarray(space.sequences())
  np.testing.assert_allclose(response_log_probs(q, seqs, space), ae.sequence_log_probs(q, space),
                             atol=1e-12)
  R = jax.random.normal(jax.random.PRNGKey(9), (space.num_sequences,), jnp.float64)
  # proposal = the EBM itself (q = M(r)): equal weights, ESS = n, log Z exact
  exact_q = ae.rewards_to_logits(ae.scores_to_rewards(R, space), space)
  s = importance_sample(jax.random.PRNGKey(10), exact_q, R, space, 1000)
  np.testing.assert_allclose(float(s.ess), 1000, rtol=1e-9)
  np.testing.assert_allclose(float(s.log_z), float(jax.scipy.special.logsumexp(R)), atol=1e-9)
  # another proposal: unbiased Z, ESS in [1, n], weighted means converge
  s = importance_sample(jax.random.PRNGKey(11), q, table_score_fn(R, space), space, 100_000)
  assert 1 <= float(s.ess) < 100_000
  np.testing.assert_allclose(float(s.log_z), float(jax.scipy.special.logsumexp(R)), atol=0.03)
  f = np.asarray(seqs[:, 0] == 0, np.float64)  # P(first token = 0)
  idx = jax.vmap(space.sequence_index)(s.tokens)
  exact = float(np.sum(np.exp(np.asarray(ae.ebm_log_probs(R))) * f))
  assert abs(float(jnp.sum(s.weights * f[idx])) - exact) < 0.02


def test_bad_inputs():
  space = SPACES[0]
  q = space.full_tables(0.0)
  for n in (0, -3, 2.5):
    with pytest.raises(ValueError, match="num_samples"):
      sample_tables(jax.random.PRNGKey(0), q, space, n)
  with pytest.raises(ValueError, match="temperature"):
    sample_tables(jax.random.PRNGKey(0), q, space, 4, temperature=0.0)
  with pytest.raises(ValueError, match="scores"):
    sample_ebm(jax.random.PRNGKey(0), jnp.zeros(5), space, 4)
  with pytest.raises(ValueError, match="q"):
    sample_tables(jax.random.PRNGKey(0), SPACES[1].full_tables(0.0), space, 4)
  with pytest.raises(TypeError, match="space"):
    sample_model(jax.random.PRNGKey(0), nnx.Linear(2, 2, rngs=nnx.Rngs(0)), 4)
  with pytest.raises(ValueError, match="num_samples"):
    importance_sample(jax.random.PRNGKey(0), q, jnp.zeros(27), space, 0)
