"""Sampling: ancestral sampling from ARMs, exact sampling from EBMs, self-normalised importance sampling.

Through the bijection (Blondel et al., 2026, Prop. 1) an EBM ``p(y) ∝ exp R(y)`` is the ARM
``M(r)``: sampling from it exactly is ancestral sampling from the logits ``q = M(r)``, one token at
a time, with no rejection and no MCMC. Every sampler returns ``(num_samples, T)`` int32 responses in
the convention of :meth:`SequenceSpace.sequences` (positions after EOS hold ``eos_id``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from armebm_jax import bellman, numerics
from armebm_jax.partition import as_rewards
from armebm_jax.spaces import SequenceSpace
from armebm_jax.token_values import _path_logits

__all__ = [
    "ImportanceSample",
    "importance_sample",
    "response_log_probs",
    "sample_ebm",
    "sample_model",
    "sample_tables",
    "table_score_fn",
]


def _check_count(num_samples) -> int:
  if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
    raise ValueError(f"num_samples: expected a positive int, got {num_samples!r}")
  return num_samples


def _check_temperature(temperature) -> float:
  if not temperature > 0:
    raise ValueError(f"temperature: expected > 0, got {temperature}")
  return float(temperature)


def sample_tables(key: jax.Array, q: Sequence[jax.Array], space: SequenceSpace, num_samples: int,
                  temperature: float = 1.0) -> jax.Array:
  r"""Ancestral samples from the ARM with logit tables ``q``: ``y_t ~ softmax(q(s_t, ·)/τ)``.

  One categorical draw per depth for all samples at once (a loop over the static depth ``T``, not
  over states or samples). With EOS, once a sample emits EOS every later position holds ``eos_id``.

  Args:
    key: a PRNG key.
    q: logit tables of ``space`` (forbidden entries are never drawn).
    space: the :class:`SequenceSpace`.
    num_samples: number of responses, a positive int.
    temperature: ``τ > 0``; ``τ = 1`` samples the ARM itself.

  Returns:
    ``(num_samples, T)`` int32 responses.

  Examples:
    >>> space = ae.SequenceSpace(3, 3, eos=True)
    >>> q = space.random_tables(jax.random.PRNGKey(0))
    >>> ys = ae.sample_tables(jax.random.PRNGKey(1), q, space, num_samples=1000)   # (1000, 3) int32
  """
  q = bellman._check(q, space, "q")
  return _sample_tables(key, q, space, _check_count(num_samples), _check_temperature(temperature))


@functools.partial(jax.jit, static_argnames=("space", "num_samples"))
def _sample_tables(key, q, space, num_samples, temperature):
  q = bellman._mask(q, space)
  V = space.vocab_size
  keys = jax.random.split(key, space.horizon)
  idx = jnp.zeros((num_samples,), jnp.int32)
  done = jnp.zeros((num_samples,), bool)
  out = []
  for t in range(space.horizon):
    a = jax.random.categorical(keys[t], q[t][idx] / temperature, axis=-1).astype(jnp.int32)
    if space.eos:
      a = jnp.where(done, space.eos_id, a)
      done = done | (a == space.eos_id)
    idx = jnp.where(a < V, idx * V + jnp.minimum(a, V - 1), idx)
    out.append(a)
  return jnp.stack(out, axis=1)


def sample_ebm(key: jax.Array, rewards, space: SequenceSpace, num_samples: int,
               temperature: float = 1.0) -> jax.Array:
  r"""Exact samples from the EBM ``p(y) ∝ exp(R(y)/τ)``: ancestral sampling from ``M(r/τ)`` (Prop. 1).

  Args:
    key: a PRNG key.
    rewards: token-level reward tables ``r`` of ``space``, or an ``(N,)`` array of sequence scores
      ``R(y)`` in :meth:`SequenceSpace.sequences` order (put on the terminal step).
    space: the :class:`SequenceSpace`.
    num_samples: number of responses, a positive int.
    temperature: ``τ > 0``.

  Returns:
    ``(num_samples, T)`` int32 responses distributed exactly as the EBM (up to the PRNG).

  Examples:
    >>> space = ae.SequenceSpace(3, 3)
    >>> R = jnp.arange(27.0) / 9                                   # sequence scores, sequences() order
    >>> ys = ae.sample_ebm(jax.random.PRNGKey(0), R, space, 1000)  # exact draws from e^R / Z
  """
  r = as_rewards(rewards, space)
  tau = _check_temperature(temperature)
  q = bellman._rewards_to_logits(tuple(x / tau for x in r), space, None)
  return _sample_tables(key, q, space, _check_count(num_samples), 1.0)


def sample_model(key: jax.Array, model: nnx.Module, num_samples: int, temperature: float = 1.0
                 ) -> jax.Array:
  r"""Ancestral samples from a Flax ARM: ``model(tokens_BxT)`` returns ``(B, T, A)`` next-token logits.

  A ``jax.lax.scan`` over positions re-runs the causal model on the tokens drawn so far (row ``t``
  of the logits depends only on ``y_<t``), so it needs no cache; ``model.space`` gives ``T`` and EOS.
  Works for :class:`~armebm_jax.models.TransformerARM` and :class:`~armebm_jax.models.TabularARM`.

  Returns:
    ``(num_samples, T)`` int32 responses.

  Examples:
    >>> from armebm_jax.models import TransformerARM
    >>> lm = TransformerARM(vocab_size=4, horizon=5, num_layers=1, num_heads=1, dim=8, mlp_dim=8,
    ...                     eos=True, rngs=nnx.Rngs(0))
    >>> ys = ae.sample_model(jax.random.PRNGKey(0), lm, 16, temperature=0.7)   # (16, 5)
  """
  space = getattr(model, "space", None)
  if not isinstance(space, SequenceSpace):
    raise TypeError(f"model: expected an ARM with a `space` attribute (SequenceSpace), got "
                    f"{type(model).__name__}")
  graphdef, state = nnx.split(model)
  return _sample_model(graphdef, state, key, _check_count(num_samples),
                       _check_temperature(temperature))


@functools.partial(jax.jit, static_argnames=("graphdef", "num_samples"))
def _sample_model(graphdef, state, key, num_samples, temperature):
  model = nnx.merge(graphdef, state)
  space = model.space
  fill = space.eos_id if space.eos else 0

  def step(carry, inputs):
    tokens, done = carry
    t, key_t = inputs
    logits = jax.lax.dynamic_index_in_dim(model(tokens), t, axis=1, keepdims=False)
    a = jax.random.categorical(key_t, logits / temperature, axis=-1).astype(jnp.int32)
    if space.eos:
      a = jnp.where(done, space.eos_id, a)
      done = done | (a == space.eos_id)
    tokens = jax.lax.dynamic_update_index_in_dim(tokens, a, t, axis=1)
    return (tokens, done), None

  init = (jnp.full((num_samples, space.horizon), fill, jnp.int32), jnp.zeros((num_samples,), bool))
  keys = jax.random.split(key, space.horizon)
  (tokens, _), _ = jax.lax.scan(step, init, (jnp.arange(space.horizon), keys))
  return tokens


def response_log_probs(q: Sequence[jax.Array], tokens_BxT: jax.Array, space: SequenceSpace
                       ) -> jax.Array:
  r"""``log p_ARM[q](y) = Σ_t log π_q(y_t | s_t)`` for a batch of responses, by indexing the tables.

  ``O(B·T)`` after one ``log_softmax`` of the tables; no enumeration of the space.

  Examples:
    >>> space = ae.SequenceSpace(3, 3)
    >>> q = space.random_tables(jax.random.PRNGKey(0))
    >>> ys = ae.sample_tables(jax.random.PRNGKey(1), q, space, 8)
    >>> ae.response_log_probs(q, ys, space)                 # (8,) log p_ARM(y), no enumeration
  """
  q = bellman._check(q, space, "q")
  tokens_BxT = jnp.asarray(tokens_BxT)
  if tokens_BxT.ndim != 2 or tokens_BxT.shape[1] != space.horizon:
    raise ValueError(f"tokens_BxT: expected shape (B, {space.horizon}), got {tokens_BxT.shape}")
  return _response_log_probs(q, tokens_BxT, space)


@functools.partial(jax.jit, static_argnames="space")
def _response_log_probs(q, tokens_BxT, space):
  log_pi = bellman._log_policy(q, space, None)

  def one(y):  # rows after EOS are 0 in path_logits, so they add nothing
    rows = _path_logits(log_pi, y, space)
    return jnp.sum(jnp.take_along_axis(rows, y[:, None], axis=-1))

  return jax.vmap(one)(tokens_BxT)


class ImportanceSample(NamedTuple):
  """Self-normalised importance sample: responses, weights, effective sample size, ``log Z`` estimate."""

  tokens: jax.Array       # (n, T) draws from the proposal
  log_weights: jax.Array  # (n,) log w = R(y) − log p_prop(y)
  weights: jax.Array      # (n,) normalised weights, summing to 1
  ess: jax.Array          # effective sample size 1 / Σ w², in [1, n]
  log_z: jax.Array        # log of the unbiased estimate (1/n) Σ e^{log w} of Z = Σ_y e^{R(y)}


def importance_sample(key: jax.Array, proposal_q: Sequence[jax.Array],
                      score_fn: Callable[[jax.Array], jax.Array] | jax.Array, space: SequenceSpace,
                      num_samples: int) -> ImportanceSample:
  r"""Self-normalised importance sampling of ``p(y) ∝ exp R(y)`` from a proposal ARM ``q``.

  .. math:: w_i \propto \frac{e^{R(y_i)}}{p_{\mathrm{ARM}}[q](y_i)},\qquad
     \mathrm{ESS} = \frac{(\sum_i w_i)^2}{\sum_i w_i^2},\qquad
     \hat Z = \frac1n \sum_i \frac{e^{R(y_i)}}{p_{\mathrm{ARM}}[q](y_i)}

  ``E_p[f] ≈ Σ_i w_i f(y_i)``. With ``q = M(r)`` of the same EBM every weight is ``1/n`` and
  ``ESS = n`` (Prop. 1); the ESS measures how far a proposal is from the target.

  Args:
    key: a PRNG key.
    proposal_q: logit tables of the proposal ARM.
    score_fn: ``(B, T) -> (B,)`` sequence scores ``R(y)``, or an ``(N,)`` array of scores in
      :meth:`SequenceSpace.sequences` order.
    space: the :class:`SequenceSpace`.
    num_samples: a positive int.

  Examples:
    >>> space = ae.SequenceSpace(3, 3)
    >>> R = jnp.arange(27.0) / 9
    >>> proposal = space.full_tables(0.0)                          # uniform proposal
    >>> s = ae.importance_sample(jax.random.PRNGKey(0), proposal, R, space, 4096)
    >>> s.log_z, jax.nn.logsumexp(R), s.ess                         # estimate, exact, effective size
  """
  q = bellman._check(proposal_q, space, "proposal_q")
  num_samples = _check_count(num_samples)
  if not callable(score_fn):
    score_fn = table_score_fn(score_fn, space)
  tokens = _sample_tables(key, q, space, num_samples, 1.0)
  log_w = score_fn(tokens) - _response_log_probs(q, tokens, space)
  lse = numerics.logsumexp(log_w)
  weights = jnp.exp(log_w - lse)
  return ImportanceSample(tokens, log_w, weights, 1.0 / jnp.sum(weights**2),
                          lse - jnp.log(num_samples))


def table_score_fn(scores: jax.Array, space: SequenceSpace) -> Callable[[jax.Array], jax.Array]:
  """``(B, T) -> (B,)`` lookup of an ``(N,)`` score vector (``sequences()`` order) by response.

  Examples:
    >>> from armebm_jax.sampling import table_score_fn
    >>> space = ae.SequenceSpace(2, 2)
    >>> score = table_score_fn(jnp.array([0.0, 1.0, 2.0, 3.0]), space)
    >>> score(jnp.array([[1, 0], [1, 1]]))                    # [2, 3]
  """
  scores = jnp.asarray(scores)
  if scores.shape != (space.num_sequences,):
    raise ValueError(f"scores: expected shape ({space.num_sequences},) (one per sequence of {space}), "
                     f"got {scores.shape}")
  return lambda tokens_BxT: scores[jax.vmap(space.sequence_index)(jnp.asarray(tokens_BxT))]
