"""Bad input raises ValueError/TypeError naming the argument and expected vs actual, before tracing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import armebm_jax as ae

SPACE = ae.SequenceSpace(3, 3, eos=True)
GOOD = SPACE.full_tables(0.0)

TABLE_FUNCS = {
    "rewards_to_logits": lambda t: ae.rewards_to_logits(t, SPACE),
    "logits_to_rewards": lambda t: ae.logits_to_rewards(t, SPACE),
    "soft_values": lambda t: ae.soft_values(t, SPACE),
    "log_partition": lambda t: ae.log_partition(t, SPACE),
    "sequence_log_probs": lambda t: ae.sequence_log_probs(t, SPACE),
    "sequence_rewards": lambda t: ae.sequence_rewards(t, SPACE),
    "prefix_marginals": lambda t: ae.prefix_marginals(t, SPACE),
    "kl_bound": lambda t: ae.kl_bound(t, GOOD, SPACE),
    "center_logits": lambda t: ae.center_logits(t, SPACE),
}


@pytest.mark.parametrize("name", list(TABLE_FUNCS))
def test_wrong_number_of_tables(name):
  with pytest.raises(ValueError, match=r"expected 3 tables .* got 2"):
    TABLE_FUNCS[name](GOOD[:2])


@pytest.mark.parametrize("name", list(TABLE_FUNCS))
def test_wrong_table_shape(name):
  bad = (GOOD[0], jnp.zeros((3, 3)), GOOD[2])
  with pytest.raises(ValueError, match=r"\[1\]: expected shape \(3, 4\) .* got \(3, 3\)"):
    TABLE_FUNCS[name](bad)


@pytest.mark.parametrize("name", list(TABLE_FUNCS))
def test_not_a_tuple_and_integer_tables(name):
  with pytest.raises(TypeError, match="expected a tuple of 3 tables"):
    TABLE_FUNCS[name](jnp.zeros((1, 4)))
  with pytest.raises(TypeError, match="floating dtype, got int32"):
    TABLE_FUNCS[name](tuple(jnp.zeros(s, jnp.int32) for s in SPACE.table_shapes))


@pytest.mark.parametrize("name", [n for n in TABLE_FUNCS if n != "center_logits"])
def test_finite_entries_where_the_space_forbids_an_action(name):
  raw = tuple(jnp.zeros(s) for s in SPACE.table_shapes)  # content tokens at depth T-1 are finite
  with pytest.raises(ValueError, match=r"\[2\]: content tokens are forbidden at depth T-1"):
    TABLE_FUNCS[name](raw)
  TABLE_FUNCS[name](SPACE.mask_invalid(raw))  # the advertised fix works


def test_errors_raise_under_jit_and_vmap_too():
  with pytest.raises(ValueError, match="expected shape"):
    jax.jit(lambda t: ae.rewards_to_logits(t, SPACE))((GOOD[0], jnp.zeros((2, 4)), GOOD[2]))
  batched = tuple(jnp.stack([x, x]) for x in GOOD)
  with pytest.raises(ValueError, match="expected shape"):
    ae.rewards_to_logits(batched, SPACE)  # a batch needs jax.vmap
  out = jax.vmap(lambda t: ae.log_partition(t, SPACE))(batched)
  np.testing.assert_allclose(out, np.log(13.0), rtol=1e-6)


def test_ref_logits_wrong_shape():
  with pytest.raises(ValueError, match=r"ref_logits\[2\]: expected shape \(9, 4\)"):
    ae.rewards_to_logits(GOOD, SPACE, ref_logits=(GOOD[0], GOOD[1], jnp.zeros((9, 3))))
  with pytest.raises(ValueError, match=r"ref_logits: expected shape \(5, 4\)"):
    ae.token_values(jnp.zeros((5, 4)), jnp.zeros(5, jnp.int32), None, jnp.zeros((5, 3)))


def test_scores_wrong_shape():
  with pytest.raises(ValueError, match=r"scores: expected shape \(13,\) .* got \(12,\)"):
    ae.scores_to_rewards(jnp.zeros(12), SPACE)
  with pytest.raises(TypeError, match="scores: expected a floating dtype"):
    ae.scores_to_rewards(jnp.zeros(13, jnp.int32), SPACE)


def test_token_values_bad_inputs():
  logits = jnp.zeros((4, 5))
  with pytest.raises(ValueError, match=r"tokens: expected ids in \[0, 5\) .* got 5 at index \(2,\)"):
    ae.token_values(logits, jnp.array([0, 1, 5, 2]))
  with pytest.raises(ValueError, match=r"tokens: expected ids in \[0, 5\) .* got -1"):
    ae.token_values(logits, jnp.array([0, -1, 1, 2]))
  # Out-of-vocabulary ids are fine where the mask says padding.
  ae.token_values(logits, jnp.array([0, 1, -1, 7]), jnp.array([True, True, False, False]))
  with pytest.raises(ValueError, match=r"mask: expected a prefix mask .* index \(2,\)"):
    ae.token_values(logits, jnp.array([0, 1, 2, 3]), jnp.array([True, False, True, False]))
  with pytest.raises(ValueError, match=r"mask: expected shape \(4,\), got \(3,\)"):
    ae.token_values(logits, jnp.array([0, 1, 2, 3]), jnp.array([True, True, False]))
  with pytest.raises(ValueError, match=r"tokens: expected shape \(4,\)"):
    ae.token_values(logits, jnp.array([0, 1, 2]))
  with pytest.raises(ValueError, match=r"logits: expected shape \(L, A\), got \(2, 4, 5\)"):
    ae.token_values(jnp.zeros((2, 4, 5)), jnp.zeros((2, 4), jnp.int32))
  with pytest.raises(TypeError, match="tokens: expected an integer dtype"):
    ae.token_values(logits, jnp.zeros(4))
  with pytest.raises(TypeError, match="logits: expected a floating dtype"):
    ae.token_values(jnp.zeros((4, 5), jnp.int32), jnp.zeros(4, jnp.int32))
  with pytest.raises(ValueError, match=r"mask: expected a prefix mask .* index \(1, 3\)"):
    ae.batch_token_values(jnp.zeros((2, 4, 5)), jnp.zeros((2, 4), jnp.int32),
                          jnp.array([[True, True, False, False], [True, False, False, True]]))


def test_path_logits_bad_tokens():
  with pytest.raises(ValueError, match=r"tokens_T: expected ids in \[0, 4\)"):
    ae.path_logits(GOOD, jnp.array([0, 4, 3]), SPACE)
  with pytest.raises(ValueError, match=r"tokens_T: expected shape \(3,\)"):
    ae.path_logits(GOOD, jnp.array([0, 3]), SPACE)
