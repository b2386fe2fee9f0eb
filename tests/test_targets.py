"""Targets: Zipf entropies from PAPER.md §8, softmax-normal, explicit pmf, sampler frequencies."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import armebm_jax as ae
from armebm_jax import targets


def test_zipf_entropies_match_paper():
  np.testing.assert_allclose(targets.zipf(ae.SequenceSpace(8, 4)).entropy(), 5.053137334770945,
                             rtol=1e-13)
  np.testing.assert_allclose(targets.zipf(ae.SequenceSpace(4, 8)).entropy(), 6.002242120478341,
                             rtol=1e-13)


def test_softmax_normal_and_sampler():
  space = ae.SequenceSpace(2, 3)
  t = targets.softmax_normal(space, jax.random.PRNGKey(0), temperature=1.0)
  np.testing.assert_allclose(t.probs.sum(), 1.0, rtol=1e-12)
  samples = t.sample(jax.random.PRNGKey(1), 40_000)
  assert samples.shape == (40_000, 3)
  index = np.asarray(samples) @ np.array([4, 2, 1])  # lexicographic rank of each sample
  freq = np.bincount(index, minlength=8) / 40_000
  # Total variation between empirical and true pmf: ~sqrt(N/n) scale, 0.02 is > 3 sigma here.
  assert 0.5 * np.abs(freq - np.asarray(t.probs)).sum() < 0.02


def test_from_pmf_validates():
  space = ae.SequenceSpace(2, 2)
  t = targets.from_pmf(space, [0.5, 0.5, 0.0, 0.0])
  np.testing.assert_allclose(t.entropy(), np.log(2))
  with pytest.raises(ValueError, match=r"pmf: expected shape \(4,\)"):
    targets.from_pmf(space, [1.0])
  with pytest.raises(ValueError, match="summing to 1"):
    targets.from_pmf(space, [0.5, 0.5, 0.5, 0.0])
  assert jnp.isneginf(t.log_probs[2])
