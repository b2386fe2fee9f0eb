r"""Gradient noise of minibatch risks (Blondel et al., 2026, App. C, Fig. 8).

With ``g`` the exact (full-batch) risk gradient and ``g_B`` the gradient of a minibatch estimate from
``B`` sequences drawn from ρ, over ``K`` independent minibatches:

.. math::
   \mathrm{GNS} = \frac{\mathbb{E}\|g_B - g\|^2}{\|g\|^2},\qquad
   \mathrm{coherence} = \frac{\|\mathbb{E}\,g_B\|^2}{\mathbb{E}\|g_B\|^2},\qquad
   \mathrm{SNR} = \frac{1}{D}\sum_{i=1}^{D} \frac{|\mu_i|}{\sigma_i},

``μ_i`` and ``σ_i`` the mean and standard deviation of coordinate ``i`` of ``g_B`` over the draws.
These are the definitions of the paper's Fig. 8 caption. ``B·GNS = tr Σ/‖g‖²`` (``Σ`` the per-sequence
gradient covariance) is McCandlish et al.'s simple noise scale ``B_simple``, also returned. In exact
full-batch training ``‖g‖ → 0`` at the optimum while ``Σ`` does not vanish, so GNS grows without bound
as a run converges: compare models at equal steps or equal gaps, not at the end of training.
The minibatch estimates are those of :func:`armebm_jax.losses.arm_nll` (teacher forcing) and
:func:`armebm_jax.losses.ebm_nll` (``log Z`` exact, so the EBM's noise comes from ``−mean_b R(y_b)``).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx
from jax.flatten_util import ravel_pytree

from armebm_jax import losses, numerics
from armebm_jax.token_values import path_logits

__all__ = ["gradient_noise", "gradient_noise_fn"]


def gradient_noise(batch_grads_KxD: jax.Array, full_grad_D: jax.Array, batch_size: int
                   ) -> dict[str, jax.Array]:
  """GNS, coherence and coordinate-wise SNR from ``K`` minibatch gradients and the exact one.

  Args:
    batch_grads_KxD: ``(K, D)`` flattened gradients of ``K`` independent minibatches of ``batch_size``.
    full_grad_D: ``(D,)`` the exact gradient ``g``.
    batch_size: ``B``, the number of sequences per minibatch.

  Returns:
    ``dict(gns=..., b_simple=..., coherence=..., snr=...)`` of scalars. The SNR averages over the
    coordinates whose minibatch gradient varies above rounding (``σ_i > 16 ε max|g_B|``); coordinates
    no minibatch can move (e.g. a bias whose gradient cancels exactly) are left out, not counted 0/0.

  Examples:
    >>> from armebm_jax.training import gradient_noise
    >>> g = jnp.array([1.0, 0.0])
    >>> g_B = g + jnp.array([[0.5, 0.1], [-0.5, -0.1]])
    >>> gradient_noise(g_B, g, batch_size=4)["gns"]       # E‖g_B − g‖²/‖g‖² = 0.26
  """
  if batch_grads_KxD.ndim != 2 or full_grad_D.shape != batch_grads_KxD.shape[1:]:
    raise ValueError(f"batch_grads_KxD: expected (K, D) with D = full_grad_D.shape[0]; got "
                     f"{batch_grads_KxD.shape} and {full_grad_D.shape}")
  if batch_grads_KxD.shape[0] < 2:
    raise ValueError(f"batch_grads_KxD: need K >= 2 minibatches, got {batch_grads_KxD.shape[0]}")
  sq = lambda x: jnp.sum(jnp.square(x), axis=-1)
  mean_D = jnp.mean(batch_grads_KxD, axis=0)
  std_D = jnp.std(batch_grads_KxD, axis=0)
  # Coordinates no minibatch can move (an EBM's output bias: ∂R/∂b = ∂log Z/∂b = 1 cancels) show
  # rounding-level spread only; they are left out of the SNR rather than counted as 0/0 or 1/ε.
  eps = jnp.finfo(batch_grads_KxD.dtype).eps
  varies = std_D > 16 * eps * jnp.max(jnp.abs(batch_grads_KxD))
  snr = jnp.sum(jnp.where(varies, jnp.abs(mean_D) / jnp.where(varies, std_D, 1.0), 0.0))
  gns = jnp.mean(sq(batch_grads_KxD - full_grad_D)) / sq(full_grad_D)
  return dict(gns=gns, b_simple=batch_size * gns,
              coherence=sq(mean_D) / jnp.mean(sq(batch_grads_KxD)),
              snr=snr / jnp.maximum(jnp.sum(varies), 1))


def gradient_noise_fn(cfg, *, batch_size: int = 64, num_batches: int = 32, seed: int = 0
                      ) -> Callable[[nnx.Module], dict[str, jax.Array]]:
  """``model -> dict(gns, b_simple, coherence, snr)`` for a :class:`TrainConfig`'s model (a ``metrics_fn``).

  Draws ``num_batches × batch_size`` sequences from the config's target once (the same draws at every
  call, so curves along training are not jittered by resampling) and compares the minibatch gradients
  with the exact risk gradient that training uses.

  Examples:
    >>> from armebm_jax.training import TrainConfig, gradient_noise_fn, make_model
    >>> cfg = TrainConfig(model="arm", architecture="tabular", vocab_size=3, horizon=2)
    >>> stats = gradient_noise_fn(cfg, batch_size=16, num_batches=8)(make_model(cfg))
  """
  from armebm_jax.training import loop  # here: loop imports this module's package

  if batch_size < 1 or num_batches < 2:
    raise ValueError(f"batch_size >= 1 and num_batches >= 2 expected, got {batch_size}, {num_batches}")
  cfg = cfg.validate()
  space, target = loop.make_space(cfg), loop.make_target(cfg)
  mu = losses.data_marginals(target.log_probs, space)
  exact_loss = loop._loss_fn(cfg, space, target.log_probs, mu)
  full_batch = jnp.asarray(loop._batch(cfg, space))
  idx_KxB = jax.random.categorical(jax.random.PRNGKey(seed), target.log_probs,
                                   shape=(num_batches, batch_size))
  tokens_KxBxT = jnp.asarray(space.sequences())[idx_KxB]
  tabular = cfg.architecture == "tabular"

  def minibatch_loss(model, idx_B, tokens_BxT):
    if cfg.model == "arm":
      if tabular:
        tables = model.logit_tables()
        logits = jax.vmap(lambda y: path_logits(tables, y, space))(tokens_BxT)
      else:
        logits = model(tokens_BxT)
      return losses.arm_nll(logits, tokens_BxT, eos_id=space.eos_id)
    scores = model.scores()[idx_B] if tabular else model(tokens_BxT)
    return -jnp.mean(scores)  # + log Z, whose gradient is the same for every minibatch (added below)

  def log_z(model):
    return numerics.logsumexp(model.scores() if tabular else model(full_batch))

  cache = {}

  def build(graphdef):
    def grad_of(fn):
      def g(params, rest, *args):
        return ravel_pytree(jax.grad(lambda p: fn(nnx.merge(graphdef, p, rest), *args))(params))[0]
      return g

    @jax.jit
    def stats(params, rest):
      full = grad_of(lambda m: exact_loss(m, full_batch))(params, rest)
      per_batch = jax.vmap(grad_of(minibatch_loss), in_axes=(None, None, 0, 0))(
          params, rest, idx_KxB, tokens_KxBxT)
      if cfg.model == "ebm":
        per_batch = per_batch + grad_of(log_z)(params, rest)
      return gradient_noise(per_batch, full, batch_size)
    return stats

  def metrics(model):
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    if graphdef not in cache:
      cache[graphdef] = build(graphdef)
    return cache[graphdef](params, rest)

  return metrics
