"""token_values: the LM-facing API against hand-computed values and the tree functions (M⁻¹, V, log p)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import armebm_jax as ae
from tests.helpers import random_tables, space_id


def test_hand_computed():
  logits = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, -1.0], [3.0, 0.0, 0.5]])
  tokens = np.array([2, 0, 1])
  tv = ae.token_values(jnp.asarray(logits), jnp.asarray(tokens))
  v = np.log(np.exp(logits).sum(-1))
  q = logits[np.arange(3), tokens]
  np.testing.assert_allclose(tv.q, q, rtol=1e-14)
  np.testing.assert_allclose(tv.v, v, rtol=1e-14)
  np.testing.assert_allclose(tv.v_next, [v[1], v[2], 0.0], rtol=1e-14)
  np.testing.assert_allclose(tv.reward, [q[0] - v[1], q[1] - v[2], q[2]], rtol=1e-14)
  np.testing.assert_allclose(tv.log_prob, q - v, rtol=1e-14)
  np.testing.assert_allclose(tv.reward.sum(), tv.log_prob.sum() + tv.v[0], rtol=1e-14)
  # A padding mask ends the sequence after two tokens: the last valid step is terminal.
  tv2 = ae.token_values(jnp.asarray(logits), jnp.asarray(tokens), jnp.array([True, True, False]))
  np.testing.assert_allclose(tv2.v_next, [v[1], 0.0, 0.0], rtol=1e-14)
  np.testing.assert_allclose(tv2.reward, [q[0] - v[1], q[1], 0.0], rtol=1e-14)
  for field in tv2:
    assert field[2] == 0.0


def _all_paths(q, space):
  seqs = jnp.asarray(space.sequences())
  return jax.vmap(lambda y: ae.path_logits(q, y, space))(seqs), seqs


@pytest.mark.parametrize("space", [ae.SequenceSpace(3, 3), ae.SequenceSpace(3, 4, eos=True),
                                   ae.SequenceSpace(2, 4, eos=True)], ids=space_id)
@pytest.mark.parametrize("with_ref", [False, True], ids=["plain", "ref"])
def test_agrees_with_tree_functions(space, with_ref):
  """Along every sequence: reward = M⁻¹(q), v = V_q(s_t), Σ log_prob = log p_ARM(y), Σ reward = log p + v_0."""
  q = random_tables(space, 0, scale=2.0)
  ref = random_tables(space, 1) if with_ref else None
  logits, seqs = _all_paths(q, space)
  ref_logits = _all_paths(ref, space)[0] if with_ref else None
  tv = ae.batch_token_values(logits, seqs, None, ref_logits, eos_id=space.eos_id)
  r = ae.logits_to_rewards(q, space, ref_logits=ref)
  v = ae.soft_values(q, space, ref_logits=ref)
  r_path = jax.vmap(lambda y: ae.path_logits(r, y, space))(seqs)
  lengths = space.sequence_lengths()
  inside = np.arange(space.horizon)[None, :] < lengths[:, None]
  want_reward = np.where(inside, np.take_along_axis(np.asarray(r_path), np.asarray(seqs)[..., None],
                                                     -1)[..., 0], 0.0)
  np.testing.assert_allclose(tv.reward, want_reward, rtol=1e-12, atol=1e-12)
  idx = np.asarray(jax.vmap(space.state_indices)(seqs))
  want_v = np.where(inside, np.stack([np.asarray(v[t])[idx[:, t]] for t in range(space.horizon)], 1),
                    0.0)
  np.testing.assert_allclose(tv.v, want_v, rtol=1e-12, atol=1e-12)
  logp = ae.sequence_log_probs(q, space, ref_logits=ref)
  np.testing.assert_allclose(tv.log_prob.sum(-1), logp, rtol=1e-12, atol=1e-12)
  # Σ_t r_t = log p(y) − log p_ref(y) + v_0, i.e. p ∝ p_ref · exp R (log p_ref ≡ 0 without reference).
  log_pref = ae.sequence_log_probs(ref, space) if with_ref else 0.0
  np.testing.assert_allclose(tv.reward.sum(-1), logp - log_pref + v[0][0], rtol=1e-12, atol=1e-12)
  # An explicit prefix mask gives the same as eos_id.
  tv_mask = ae.batch_token_values(logits, seqs, jnp.asarray(inside), ref_logits)
  for a, b in zip(tv, tv_mask, strict=True):
    np.testing.assert_array_equal(a, b)


def test_single_jit_vmap_agree():
  rng = np.random.default_rng(0)
  B, L, A = 3, 6, 11
  logits = jnp.asarray(rng.standard_normal((B, L, A)))
  tokens = jnp.asarray(rng.integers(0, A, (B, L)), jnp.int32)
  mask = jnp.asarray(np.arange(L)[None] < np.array([6, 3, 1])[:, None])
  batched = ae.batch_token_values(logits, tokens, mask)
  jitted = jax.jit(ae.batch_token_values)(logits, tokens, mask)
  for b in range(B):
    single = ae.token_values(logits[b], tokens[b], mask[b])
    single_jit = jax.jit(ae.token_values)(logits[b], tokens[b], mask[b])
    for field, x, y, z in zip(single._fields, single, single_jit, batched, strict=True):
      np.testing.assert_allclose(x, y, rtol=1e-14, err_msg=field)
      np.testing.assert_allclose(x, z[b], rtol=1e-14, err_msg=field)
  for x, y in zip(batched, jitted, strict=True):
    np.testing.assert_allclose(x, y, rtol=1e-14)
    assert x.shape == (B, L)


def test_float32_tolerance_and_large_logits():
  rng = np.random.default_rng(1)
  L, A = 7, 50
  logits64 = rng.standard_normal((L, A)) * 3
  tokens = jnp.asarray(rng.integers(0, A, L), jnp.int32)
  tv64 = ae.token_values(jnp.asarray(logits64), tokens)
  tv32 = ae.token_values(jnp.asarray(logits64, jnp.float32), tokens)
  for x, y in zip(tv32, tv64, strict=True):
    assert x.dtype == jnp.float32
    np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5)
  big = jnp.asarray(logits64 * 1e4 / 3, jnp.float32)
  tv = ae.token_values(big, tokens)
  assert all(np.all(np.isfinite(x)) for x in tv)
  grads = jax.grad(lambda lg: ae.token_values(lg, tokens).log_prob.sum())(big)
  assert np.all(np.isfinite(grads))


def test_padding_with_minus_inf_rows_has_finite_gradients():
  """Padding logits that are all -inf (or garbage token ids) must not leak NaN into gradients."""
  L, A = 5, 4
  logits = jnp.asarray(np.random.default_rng(2).standard_normal((L, A)))
  logits = logits.at[3:].set(-jnp.inf)
  tokens = jnp.array([1, 2, 3, -1, 99], jnp.int32)  # padding ids outside the vocabulary
  mask = jnp.array([True, True, True, False, False])
  f = lambda lg: sum(jnp.sum(x) for x in ae.token_values(lg, tokens, mask))
  value, grads = jax.value_and_grad(f)(logits)
  assert np.isfinite(value) and np.all(np.isfinite(grads))
  assert np.all(grads[3:] == 0)


def test_eos_ends_the_sequence():
  L, A, eos = 6, 5, 4
  logits = jnp.asarray(np.random.default_rng(3).standard_normal((L, A)))
  tokens = jnp.array([0, 3, eos, 1, eos, 2], jnp.int32)
  tv = ae.token_values(logits, tokens, eos_id=eos)
  tv_mask = ae.token_values(logits, tokens, jnp.arange(L) < 3)
  for x, y in zip(tv, tv_mask, strict=True):
    np.testing.assert_array_equal(x, y)
  assert tv.v_next[2] == 0 and tv.reward[2] == tv.q[2]  # EOS is terminal


def test_reference_policy_matches_residual_definition():
  """π ∝ π_ref e^q: log_prob = log_softmax(q + log π_ref), v = log Σ π_ref e^q."""
  rng = np.random.default_rng(4)
  L, A = 4, 6
  q, ref = rng.standard_normal((L, A)), rng.standard_normal((L, A))
  tokens = rng.integers(0, A, L)
  tv = ae.token_values(jnp.asarray(q), jnp.asarray(tokens), None, jnp.asarray(ref))
  log_pref = ref - np.log(np.exp(ref).sum(-1, keepdims=True))
  joint = q + log_pref
  log_pi = joint - np.log(np.exp(joint).sum(-1, keepdims=True))
  np.testing.assert_allclose(tv.log_prob, log_pi[np.arange(L), tokens], rtol=1e-12)
  np.testing.assert_allclose(tv.v, np.log(np.exp(joint).sum(-1)), rtol=1e-12)


def _temp_bytes(fn, *shapes):
  compiled = jax.jit(fn).lower(*shapes).compile()
  return compiled.memory_analysis().temp_size_in_bytes


@pytest.mark.parametrize("with_ref", [False, True], ids=["plain", "ref"])
def test_no_extra_logits_sized_allocation(with_ref):
  """B=4, L=512, A=128k float32 logits (1 GiB): the compiled batch allocates < 1% of that on top."""
  B, L, A = 4, 512, 128_000
  logits = jax.ShapeDtypeStruct((B, L, A), jnp.float32)
  tokens = jax.ShapeDtypeStruct((B, L), jnp.int32)
  mask = jax.ShapeDtypeStruct((B, L), jnp.bool_)
  logits_bytes = B * L * A * 4
  if with_ref:
    temp = _temp_bytes(lambda lg, tk, mk, rf: ae.batch_token_values(lg, tk, mk, rf),
                       logits, tokens, mask, logits)
  else:
    temp = _temp_bytes(lambda lg, tk, mk: ae.batch_token_values(lg, tk, mk, eos_id=7),
                       logits, tokens, mask)
  assert temp < 0.01 * logits_bytes, f"temp {temp / 2**20:.1f} MiB"
  # The naive way (materialising log_softmax) does allocate a logits-sized buffer: the check bites.
  naive = _temp_bytes(
      lambda lg, tk: jnp.take_along_axis(jax.nn.log_softmax(lg, -1), tk[..., None], -1), logits, tokens)
  assert naive >= logits_bytes
