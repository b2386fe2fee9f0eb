"""Flax NNX models: parameter counts (paper), shapes, causality, tables over the space, chunked scores."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import armebm_jax as ae
from armebm_jax.models import TabularARM, TabularEBM, TransformerARM, TransformerEBM, count_params

PAPER_SIZES = [dict(num_layers=2, num_heads=2, dim=16, mlp_dim=16),
               dict(num_layers=3, num_heads=4, dim=64, mlp_dim=64)]


@pytest.mark.parametrize("sizes, ebm_count, arm_count", [(PAPER_SIZES[0], 3_633, 3_736),
                                                         (PAPER_SIZES[1], 76_609, 77_000)])
def test_parameter_counts_match_the_paper(sizes, ebm_count, arm_count):
  ebm = TransformerEBM(vocab_size=8, horizon=4, **sizes, rngs=nnx.Rngs(0))
  arm = TransformerARM(vocab_size=8, horizon=4, **sizes, rngs=nnx.Rngs(0))
  assert count_params(ebm) == ebm_count  # PAPER.md §7
  # ARM: T positions instead of T+1, and a Linear(V) head instead of Linear(1): +V·D + V − D − 1 − D.
  assert count_params(arm) == arm_count


@pytest.mark.parametrize("eos", [False, True])
def test_arm_shapes_and_tables_agree_with_per_sequence_evaluation(eos):
  model = TransformerARM(vocab_size=3, horizon=3, num_layers=1, num_heads=2, dim=8, mlp_dim=8,
                         eos=eos, rngs=nnx.Rngs(1))
  space = model.space
  tables = model.logit_tables()
  assert tuple(t.shape for t in tables) == space.table_shapes
  seqs = jnp.asarray(space.sequences())
  logits = model(seqs)
  assert logits.shape == (space.num_sequences, 3, space.num_actions)
  paths = jax.vmap(lambda y: ae.path_logits(tables, y, space))(seqs)
  inside = np.arange(3)[None, :] < space.sequence_lengths()[:, None]
  np.testing.assert_allclose(np.where(inside[..., None], paths, 0.0),
                             np.where(inside[..., None], logits, 0.0), atol=1e-5)
  logp = ae.sequence_log_probs(tables, space)  # the tables are valid core inputs
  np.testing.assert_allclose(np.exp(logp).sum(), 1.0, rtol=1e-5)


def test_arm_is_causal():
  """∂ logits[t] / ∂ embedding of input token at position ≥ t+1 is zero (input t+1 holds y_{t+1})."""
  model = TransformerARM(vocab_size=4, horizon=5, num_layers=2, num_heads=2, dim=8, mlp_dim=8,
                         rngs=nnx.Rngs(2))
  tokens = jnp.array([1, 3, 0, 2, 1])
  bos = jnp.array([model.bos_id])
  inputs = jnp.concatenate([bos, tokens[:-1]])
  x0 = model.backbone.embed(inputs)

  def logits_from_embeddings(x_LxD):
    x = x_LxD + model.backbone.pos_embed(jnp.arange(5))
    mask = nnx.make_causal_mask(jnp.ones((5,), bool))
    for block in model.backbone.blocks:
      x = block(x, mask)
    return model.head(x)

  np.testing.assert_allclose(logits_from_embeddings(x0), model(tokens), atol=1e-6)
  jac = jax.jacobian(logits_from_embeddings)(x0)  # (L, A, L_in, D)
  influence = np.abs(np.asarray(jac)).sum(axis=(1, 3))  # (L_out, L_in)
  assert np.all(influence[np.triu_indices(5, k=1)] == 0)  # input j > t never reaches output t
  assert np.all(influence[np.tril_indices(5)] > 0)


def test_ebm_scores_chunked_equal_one_shot_and_are_permutation_sensitive():
  model = TransformerEBM(vocab_size=3, horizon=3, num_layers=1, num_heads=1, dim=8, mlp_dim=8,
                         eos=True, rngs=nnx.Rngs(3))
  full = model.scores()
  assert full.shape == (model.space.num_sequences,)
  np.testing.assert_allclose(model.scores(chunk_size=4), full, atol=1e-5)
  np.testing.assert_allclose(model(jnp.asarray(model.space.sequences()[5])), full[5], atol=1e-5)


def test_tabular_models_feed_the_core():
  space = ae.SequenceSpace(3, 3, eos=True)
  arm = TabularARM(space)
  # Zero logits: uniform over the 4 actions at each step, except the forced EOS at depth T-1.
  steps = np.minimum(space.sequence_lengths(), space.horizon - 1)
  np.testing.assert_allclose(ae.sequence_log_probs(arm.logit_tables(), space), -np.log(4) * steps,
                             rtol=1e-6)
  ebm = TabularEBM(space, rngs=nnx.Rngs(0), scale=1.0)
  r = ae.scores_to_rewards(ebm.scores(), space)
  q = ae.rewards_to_logits(r, space)
  np.testing.assert_allclose(ae.sequence_log_probs(q, space), ae.ebm_log_probs(ebm.scores()), atol=1e-5)
  assert count_params(arm) == space.num_entries and count_params(ebm) == 13


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(dim=10, num_heads=3), ValueError, "dim must be divisible by num_heads"),
    (dict(horizon=0), ValueError, "horizon must be >= 1"),
    (dict(vocab_size=-2), ValueError, "vocab_size must be >= 1"),
    (dict(num_layers=1.5), TypeError, "num_layers must be an int"),
])
def test_bad_sizes(kwargs, err, match):
  sizes = dict(vocab_size=4, horizon=3, num_layers=1, num_heads=2, dim=8, mlp_dim=8) | kwargs
  for cls in (TransformerARM, TransformerEBM):
    with pytest.raises(err, match=match):
      cls(**sizes, rngs=nnx.Rngs(0))
