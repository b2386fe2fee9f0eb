"""Prop. 1 and the soft Bellman view, each identity against brute-force enumeration (tests/brute.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import armebm_jax as ae
from tests import brute
from tests.helpers import (
  BATCH,
  SMALL_SPACES,
  VARIANT_DTYPE_IDS,
  VARIANT_DTYPES,
  VARIANTS,
  assert_tables_close,
  call,
  random_tables,
  sequences_as_tuples,
  space_id,
  tol,
  unstack,
)


def examples(variant, space, dtype, seed=0, scale=1.0):
  """Inputs for ``call``: a batch for vmap, one example otherwise; plus the list of examples."""
  if variant == "vmap":
    r = random_tables(space, seed, dtype, scale, batch=BATCH)
    return r, [unstack(r, i) for i in range(BATCH)]
  r = random_tables(space, seed, dtype, scale)
  return r, [r]


def outputs(variant, out):
  return [unstack(out, i) if isinstance(out, tuple) else out[i] for i in range(BATCH)] \
      if variant == "vmap" else [out]


@pytest.mark.parametrize("variant, dtype", VARIANT_DTYPES, ids=VARIANT_DTYPE_IDS)
@pytest.mark.parametrize("space", SMALL_SPACES, ids=space_id)
def test_M_matches_definition_and_inverts(space, variant, dtype):
  """q = M(r) entrywise as the log-sum-exp over completions; M⁻¹(M(r)) = r; dtype is kept."""
  r, rs = examples(variant, space, dtype)
  q = call(variant, ae.rewards_to_logits, space, r)
  back = call(variant, ae.logits_to_rewards, space, q)
  for q_i, r_i, back_i in zip(outputs(variant, q), rs, outputs(variant, back), strict=True):
    assert all(x.dtype == dtype for x in q_i + back_i)
    assert_tables_close(q_i, brute.bellman_logits(r_i, space.vocab_size, space.horizon, space.eos),
                        **tol(dtype))
    assert_tables_close(back_i, r_i, **tol(dtype))


@pytest.mark.parametrize("variant, dtype", VARIANT_DTYPES, ids=VARIANT_DTYPE_IDS)
@pytest.mark.parametrize("space", SMALL_SPACES, ids=space_id)
def test_p_arm_equals_p_ebm_and_log_z_is_root_value(space, variant, dtype):
  """Prop. 1: p_ARM[M(r)] = p_EBM[R_r] and log Z = V_{M(r)}(root), against enumeration."""
  V, T = space.vocab_size, space.horizon
  r, rs = examples(variant, space, dtype, seed=1)
  q = call(variant, ae.rewards_to_logits, space, r)
  logp_arm = call(variant, ae.sequence_log_probs, space, q)
  log_z = call(variant, ae.log_partition, space, r)
  root = call(variant, lambda q, s: ae.soft_values(q, s)[0][0], space, q)
  rewards = call(variant, ae.sequence_rewards, space, r)
  order = sequences_as_tuples(space)
  for i, r_i in enumerate(rs):
    pick = (lambda x: x[i]) if variant == "vmap" else (lambda x: x)
    want, want_z = brute.ebm_log_probs(r_i, V, T, space.eos)
    np.testing.assert_allclose(pick(logp_arm), [want[y] for y in order], **tol(dtype))
    np.testing.assert_allclose(pick(log_z), want_z, **tol(dtype))
    np.testing.assert_allclose(pick(root), want_z, **tol(dtype))
    np.testing.assert_allclose(pick(rewards), [brute.seq_reward(brute.as_np(r_i), y, V) for y in order],
                               **tol(dtype))
    assert pick(log_z).dtype == dtype


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("space", SMALL_SPACES, ids=space_id)
def test_arm_log_probs_match_product_of_softmaxes(space, variant):
  """sequence_log_probs of arbitrary logits (not only M(r)) = Π_t softmax, and Σ_y p(y) = 1."""
  q, qs = examples(variant, space, jnp.float64, seed=2, scale=2.0)
  logp = call(variant, ae.sequence_log_probs, space, q)
  for i, q_i in enumerate(qs):
    got = np.asarray(logp[i] if variant == "vmap" else logp)
    want = [brute.arm_log_prob(q_i, y, space.vocab_size) for y in sequences_as_tuples(space)]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.exp(got).sum(), 1.0, rtol=1e-12)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("space", SMALL_SPACES, ids=space_id)
def test_reference_measure(space, variant):
  """App. A.5: with π_ref, π ∝ π_ref · exp(q) for q = M_ref(r) gives p ∝ p_ref · exp(R_r)."""
  V, T = space.vocab_size, space.horizon
  r, rs = examples(variant, space, jnp.float64, seed=3)
  ref, refs = examples(variant, space, jnp.float64, seed=4, scale=1.5)
  q = call(variant, lambda r, ref, s: ae.rewards_to_logits(r, s, ref_logits=ref), space, r, ref)
  back = call(variant, lambda q, ref, s: ae.logits_to_rewards(q, s, ref_logits=ref), space, q, ref)
  logp = call(variant, lambda q, ref, s: ae.sequence_log_probs(q, s, ref_logits=ref), space, q, ref)
  log_z = call(variant, lambda r, ref, s: ae.log_partition(r, s, ref_logits=ref), space, r, ref)
  root = call(variant, lambda q, ref, s: ae.soft_values(q, s, ref_logits=ref)[0][0], space, q, ref)
  order = sequences_as_tuples(space)
  for i, (r_i, ref_i) in enumerate(zip(rs, refs, strict=True)):
    pick = (lambda x: x[i]) if variant == "vmap" else (lambda x: x)
    pick_t = (lambda x: unstack(x, i)) if variant == "vmap" else (lambda x: x)
    assert_tables_close(pick_t(q), brute.bellman_logits(r_i, V, T, space.eos, ref=ref_i),
                        rtol=1e-12, atol=1e-12)
    assert_tables_close(pick_t(back), r_i, rtol=1e-12, atol=1e-12)
    want, want_z = brute.ebm_log_probs(r_i, V, T, space.eos, ref=ref_i)
    np.testing.assert_allclose(pick(logp), [want[y] for y in order], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pick(log_z), want_z, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pick(root), want_z, rtol=1e-12, atol=1e-12)


def test_zero_rewards_with_reference_give_the_reference():
  """r ≡ 0 with a reference: M_ref(0) = 0 and the policy is π_ref (log Z = log Σ p_ref = 0)."""
  space = ae.SequenceSpace(3, 3, eos=True)
  ref = random_tables(space, 5)
  q = ae.rewards_to_logits(space.full_tables(0.0, jnp.float64), space, ref_logits=ref)
  assert_tables_close(q, space.full_tables(0.0, jnp.float64), atol=1e-12)
  np.testing.assert_allclose(ae.sequence_log_probs(q, space, ref_logits=ref),
                             ae.sequence_log_probs(ref, space), atol=1e-12)


@pytest.mark.parametrize("space", SMALL_SPACES, ids=space_id)
def test_rewards_telescope(space):
  """Σ_t r(s_t, y_t) = log p(y) + V(root) for r = M⁻¹(q) and arbitrary q."""
  q = random_tables(space, 6, scale=3.0)
  r = ae.logits_to_rewards(q, space)
  np.testing.assert_allclose(ae.sequence_rewards(r, space),
                             ae.sequence_log_probs(q, space) + ae.soft_values(q, space)[0][0],
                             rtol=1e-12, atol=1e-12)


def test_scores_to_rewards_puts_scores_on_the_terminal_step():
  for space in SMALL_SPACES[6:10]:
    scores = jnp.asarray(np.random.default_rng(7).standard_normal(space.num_sequences))
    r = ae.scores_to_rewards(scores, space)
    np.testing.assert_array_equal(ae.sequence_rewards(r, space), scores)
    for x, m, term in zip(r, space.valid_masks(), space.terminal_masks(), strict=True):
      x = np.asarray(x)
      assert np.all(x[~m] == -np.inf) and np.all(x[m & ~term] == 0)
    np.testing.assert_allclose(ae.log_partition(r, space), jax.nn.logsumexp(scores), rtol=1e-12)
    np.testing.assert_allclose(ae.sequence_log_probs(ae.rewards_to_logits(r, space), space),
                               ae.ebm_log_probs(scores), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------- PAPER.md §8 numbers
def test_paper_numbers_v2_t2():
  space = ae.SequenceSpace(vocab_size=2, horizon=2)
  for dtype, tol_ in ((jnp.float64, 1e-7), (jnp.float32, 1e-6)):
    r = ae.scores_to_rewards(jnp.array([0.0, 1.0, 2.0, 3.0], dtype), space)
    q = ae.rewards_to_logits(r, space)
    np.testing.assert_allclose(q[0][0], [1.3132617, 3.3132617], atol=tol_)
    np.testing.assert_allclose(ae.log_partition(r, space), 3.4401897, atol=tol_)
  # The exact values: q(root, a) = log(e^{2a} + e^{2a+1}), log Z = log(1 + e + e² + e³).
  np.testing.assert_allclose(q[0][0], [np.log(1 + np.e), np.log(np.e**2 + np.e**3)], rtol=1e-6)


def test_paper_numbers_eos_v8_t4():
  space = ae.SequenceSpace(vocab_size=8, horizon=4, eos=True)
  for dtype, rtol in ((jnp.float64, 1e-13), (jnp.float32, 1e-6)):
    r = space.full_tables(0.0, dtype)
    q = ae.rewards_to_logits(r, space)
    np.testing.assert_allclose(ae.log_partition(r, space), np.log(585), rtol=rtol)
    np.testing.assert_allclose(q[0][0, :8], np.log(73), rtol=rtol)
    np.testing.assert_allclose(q[0][0, 8], 0.0)
    pi = np.exp(ae.log_policy(q, space)[0][0])
    np.testing.assert_allclose(pi[8], 1 / 585, rtol=rtol)
    np.testing.assert_allclose(np.exp(ae.sequence_log_probs(q, space)), 1 / 585, rtol=10 * rtol)


# ------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("space", SMALL_SPACES, ids=space_id)
def test_grad_log_partition_is_prefix_marginal(space):
  """∂ log Z / ∂ r(s, a) = p(s ⊕ a) (Sec. 3.3), against enumeration and against prefix_marginals."""
  r = random_tables(space, 8)
  grads = jax.grad(ae.log_partition)(r, space)
  log_p, _ = brute.ebm_log_probs(r, space.vocab_size, space.horizon, space.eos)
  want = brute.prefix_marginals(log_p, space.vocab_size, space.horizon, space.eos)
  assert_tables_close(grads, want, rtol=1e-12, atol=1e-12)
  assert_tables_close(ae.prefix_marginals(ae.rewards_to_logits(r, space), space), want,
                      rtol=1e-12, atol=1e-12)


def test_check_grads_log_partition_and_M():
  from jax.test_util import check_grads
  for space in (ae.SequenceSpace(3, 2), ae.SequenceSpace(2, 3, eos=True)):
    r = random_tables(space, 9)
    check_grads(lambda *r: ae.log_partition(r, space), tuple(r), order=2, modes=["rev"])
    check_grads(lambda *r: ae.rewards_to_logits(r, space)[0], tuple(r), order=1, modes=["rev"])
    check_grads(lambda *q: ae.sequence_log_probs(q, space), tuple(r), order=1, modes=["rev"])


def test_no_nan_gradients_with_minus_inf_entries():
  """Forbidden entries, valid entries at -inf, and a state whose whole row is -inf: finite grads."""
  space = ae.SequenceSpace(3, 3, eos=True)
  r = list(random_tables(space, 10))
  r[1] = r[1].at[0, :].set(-jnp.inf)  # state (0,) has no allowed continuation at all
  r[2] = r[2].at[4, space.eos_id].set(-jnp.inf)
  r[0] = r[0].at[0, 1].set(-jnp.inf)
  r = tuple(r)
  for f in (
      lambda r: ae.log_partition(r, space),
      lambda r: jnp.sum(ae.rewards_to_logits(r, space)[0][0, 2:]),
      lambda r: jnp.sum(jnp.where(jnp.isfinite(lp := ae.sequence_log_probs(
          ae.rewards_to_logits(r, space), space)), lp, 0.0)),
      lambda r: sum(jnp.sum(jnp.where(jnp.isfinite(x), x, 0.0))
                    for x in ae.logits_to_rewards(ae.rewards_to_logits(r, space), space)),
  ):
    value, grads = jax.value_and_grad(f)(r)
    assert np.isfinite(value)
    for g in grads:
      assert np.all(np.isfinite(g)), g
  q = ae.rewards_to_logits(r, space)
  assert np.all(np.asarray(q[0])[0, 0] == -np.inf)  # the dead subtree propagates -inf, not NaN
  back = ae.logits_to_rewards(q, space)
  assert not any(np.any(np.isnan(x)) for x in back)
  # M⁻¹ recovers r wherever the future is non-empty; an entry leading into a dead subtree
  # (V(s ⊕ a) = -inf) has q = -inf whatever r was, so M⁻¹ gives -inf there.
  for b, x, lq in zip(back, r, q, strict=True):
    alive = np.isfinite(np.asarray(lq))
    np.testing.assert_allclose(np.asarray(b)[alive], np.asarray(x)[alive], rtol=1e-12)
    assert np.all(np.asarray(b)[~alive] == -np.inf)


def test_large_logits_stay_finite_in_float32():
  space = ae.SequenceSpace(4, 3, eos=True)
  r = random_tables(space, 11, dtype=jnp.float32, scale=1e4)
  q = ae.rewards_to_logits(r, space)
  for x, m in zip(q + ae.logits_to_rewards(q, space), space.valid_masks() * 2, strict=True):
    assert np.all(np.isfinite(np.asarray(x)[m]))
  assert np.isfinite(ae.log_partition(r, space))
  assert np.all(np.isfinite(ae.sequence_log_probs(q, space)))
  grads = jax.grad(ae.log_partition)(r, space)
  assert all(np.all(np.isfinite(g)) for g in grads)
  # The identity still holds relative to the scale of the logits.
  logp64 = ae.sequence_log_probs(ae.rewards_to_logits(tuple(x.astype(jnp.float64) for x in r), space),
                                 space)
  np.testing.assert_allclose(ae.sequence_log_probs(q, space), logp64, atol=1e-4 * 1e4 * 1e-3)


# ------------------------------------------------------------------------- property tests
space_strategy = st.builds(ae.SequenceSpace, st.integers(1, 4), st.integers(1, 4), st.booleans())


@settings(max_examples=25, deadline=None)
@given(space=space_strategy, seed=st.integers(0, 2**16), scale=st.floats(0.1, 10.0))
def test_property_bijection(space, seed, scale):
  r = random_tables(space, seed, scale=scale)
  q = ae.rewards_to_logits(r, space)
  assert_tables_close(ae.logits_to_rewards(q, space), r, rtol=1e-10, atol=1e-10 * scale)
  scores = ae.sequence_rewards(r, space)
  np.testing.assert_allclose(ae.sequence_log_probs(q, space), ae.ebm_log_probs(scores),
                             rtol=1e-10, atol=1e-10 * scale)
  np.testing.assert_allclose(ae.log_partition(r, space), jax.nn.logsumexp(scores), rtol=1e-12)
  # M is a bijection on logits up to per-state shifts: M(M⁻¹(q)) = q for any q.
  q2 = random_tables(space, seed + 1, scale=scale)
  assert_tables_close(ae.rewards_to_logits(ae.logits_to_rewards(q2, space), space), q2,
                      rtol=1e-10, atol=1e-10 * scale)


@settings(max_examples=15, deadline=None)
@given(space=space_strategy, seed=st.integers(0, 2**16), shift=st.floats(-5, 5))
def test_property_shift_invariance(space, seed, shift):
  """Adding a constant per state to q changes neither the policy nor the implied sequence scores
  up to the root constant: log p is unchanged."""
  q = random_tables(space, seed)
  c = [jax.random.normal(jax.random.PRNGKey(seed + t), (n, 1), jnp.float64) * shift
       for t, n in enumerate(space.num_states)]
  q_shift = tuple(x + ci for x, ci in zip(q, c, strict=True))
  np.testing.assert_allclose(ae.sequence_log_probs(q_shift, space), ae.sequence_log_probs(q, space),
                             atol=1e-10)
  assert_tables_close(ae.center_logits(q_shift, space), ae.center_logits(q, space), atol=1e-10)
