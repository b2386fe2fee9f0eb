"""Gradient noise statistics (Fig. 8): hand-computed values and the analytic tabular-EBM case."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from armebm_jax.training import TrainConfig, gradient_noise, gradient_noise_fn, make_model, make_target

jax.config.update("jax_enable_x64", True)


def test_hand_computed():
  g = jnp.array([1.0, 0.0, 2.0])
  gB = g + jnp.array([[0.5, 0.1, 0.0], [-0.5, -0.1, 0.0]])  # third coordinate never moves
  out = gradient_noise(gB, g, batch_size=4)
  # E‖g_B − g‖² = 0.26, ‖g‖² = 5; ‖E g_B‖² = 5, E‖g_B‖² = 5.26; SNR over moving coords (1/0.5 + 0/0.1)/2
  np.testing.assert_allclose(float(out["gns"]), 0.26 / 5, rtol=1e-12)
  np.testing.assert_allclose(float(out["b_simple"]), 4 * 0.26 / 5, rtol=1e-12)
  np.testing.assert_allclose(float(out["coherence"]), 5 / 5.26, rtol=1e-12)
  np.testing.assert_allclose(float(out["snr"]), 1.0, rtol=1e-12)


def test_bad_shapes():
  with pytest.raises(ValueError, match="K >= 2"):
    gradient_noise(jnp.ones((1, 3)), jnp.ones(3), 4)
  with pytest.raises(ValueError, match="batch_grads_KxD"):
    gradient_noise(jnp.ones((4, 3)), jnp.ones(2), 4)


@pytest.mark.parametrize("eos", [False, True])
def test_tabular_ebm_matches_analytic(eos):
  # Uniform tabular EBM: per-sample gradient p − e_y, so g = p − ρ and tr Σ = 1 − Σρ²:
  # B_simple → (1 − Σρ²)/‖p − ρ‖², GNS = B_simple/B, coherence → 1/(1 + GNS) as minibatches grow.
  cfg = TrainConfig(model="ebm", architecture="tabular", vocab_size=3, horizon=3, eos=eos,
                    num_steps=10, warmup_steps=1, decay_steps=1)
  B = 8
  out = gradient_noise_fn(cfg, batch_size=B, num_batches=4000)(make_model(cfg))
  rho = np.exp(np.asarray(make_target(cfg).log_probs, np.float64))
  p = np.full_like(rho, 1 / rho.size)
  b_simple = (1 - np.sum(rho**2)) / np.sum((p - rho) ** 2)
  np.testing.assert_allclose(float(out["b_simple"]), b_simple, rtol=0.03)
  np.testing.assert_allclose(float(out["gns"]), b_simple / B, rtol=0.03)
  np.testing.assert_allclose(float(out["coherence"]), 1 / (1 + b_simple / B), rtol=0.03)


def test_transformer_arm_minibatch_gradient_is_unbiased():
  # coherence = ‖E g_B‖²/E‖g_B‖² and GNS = E‖g_B − g‖²/‖g‖²: if E g_B = g (unbiased), then
  # coherence = 1/(1 + GNS) up to Monte-Carlo error.
  cfg = TrainConfig(model="arm", vocab_size=3, horizon=3, num_steps=10, warmup_steps=1, decay_steps=1)
  B = 4
  out = gradient_noise_fn(cfg, batch_size=B, num_batches=2000)(make_model(cfg))
  np.testing.assert_allclose(float(out["coherence"]), 1 / (1 + float(out["gns"])), rtol=0.03)
  assert 0 < float(out["snr"]) < 100
