"""SequenceSpace: sizes, table shapes, masks, enumeration order, state indices, bad sizes."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import armebm_jax as ae
from tests import brute
from tests.helpers import SMALL_SPACES, sequences_as_tuples, space_id


def test_paper_sizes():
  s = ae.SequenceSpace(vocab_size=8, horizon=4, eos=True)
  assert s.num_sequences == 585 == 1 + 8 + 64 + 512
  assert (s.num_actions, s.eos_id) == (9, 8)
  assert s.table_shapes == ((1, 9), (8, 9), (64, 9), (512, 9))
  assert ae.SequenceSpace(8, 4).num_sequences == 4096
  assert ae.SequenceSpace(4, 8).num_sequences == 65536
  f = ae.SequenceSpace(8, 4)
  assert (f.num_actions, f.eos_id) == (8, None)
  assert f.num_entries == (1 + 8 + 64 + 512) * 8


def test_hashable_and_static():
  a, b = ae.SequenceSpace(3, 2, True), ae.SequenceSpace(3, 2, True)
  assert a == b and hash(a) == hash(b)
  assert a != ae.SequenceSpace(3, 2, False)
  f = jax.jit(lambda r, space: ae.log_partition(r, space), static_argnames="space")
  np.testing.assert_allclose(f(a.full_tables(0.0), space=a), np.log(1 + 3), rtol=1e-6)


@pytest.mark.parametrize("space", SMALL_SPACES, ids=space_id)
def test_sequences_enumerate_every_response_in_shortlex_order(space):
  V, T = space.vocab_size, space.horizon
  seqs = space.sequences()
  assert seqs.dtype == np.int32 and seqs.shape == (space.num_sequences, T)
  assert sequences_as_tuples(space) == brute.all_sequences(V, T, space.eos)
  if space.eos:  # positions after EOS hold eos_id
    lengths = space.sequence_lengths()
    for row, n in zip(seqs, lengths, strict=True):
      assert row[n - 1] == V and np.all(row[n:] == V) and np.all(row[: n - 1] < V)
  with pytest.raises(ValueError):
    seqs[0, 0] = 1  # read-only: the enumeration is cached


@pytest.mark.parametrize("space", SMALL_SPACES, ids=space_id)
def test_masks(space):
  valid, terminal = space.valid_masks(), space.terminal_masks()
  for t, (m, term) in enumerate(zip(valid, terminal, strict=True)):
    assert m.shape == term.shape == space.table_shapes[t]
    if space.eos:
      assert np.all(m[:, -1]) and np.all(term[:, -1]) and not np.any(term[:, :-1])
      assert np.all(m[:, :-1]) == (t < space.horizon - 1)
    else:
      assert np.all(m) and np.all(term) == (t == space.horizon - 1)
  # Valid entries = state–action pairs visited by some sequence.
  seen = [np.zeros(s, bool) for s in space.table_shapes]
  for y in brute.all_sequences(space.vocab_size, space.horizon, space.eos):
    for t, i, a in brute.path(y, space.vocab_size):
      seen[t][i, a] = True
  for m, s in zip(valid, seen, strict=True):
    np.testing.assert_array_equal(m, s)


def test_state_indices_match_prefixes():
  space = ae.SequenceSpace(3, 4, eos=True)
  idx = jax.vmap(space.state_indices)(jnp.asarray(space.sequences()))
  for row, y in zip(np.asarray(idx), sequences_as_tuples(space), strict=True):
    for t in range(len(y)):
      assert row[t] == brute.state_index(y[:t], 3)


def test_random_and_full_tables():
  space = ae.SequenceSpace(2, 3, eos=True)
  r = space.random_tables(jax.random.PRNGKey(0), dtype=jnp.float32)
  z = space.full_tables(1.5, dtype=jnp.float64)
  for x, y, m in zip(r, z, space.valid_masks(), strict=True):
    assert x.dtype == jnp.float32 and y.dtype == jnp.float64
    assert np.all(np.isfinite(x[m])) and np.all(np.asarray(x)[~m] == -np.inf)
    assert np.all(y[m] == 1.5) and np.all(np.asarray(y)[~m] == -np.inf)
  raw = tuple(jnp.zeros(s) for s in space.table_shapes)
  masked = space.mask_invalid(raw)
  np.testing.assert_array_equal(np.asarray(masked[-1]), np.asarray(space.full_tables(0.0)[-1]))


@pytest.mark.parametrize(
    "kwargs, err",
    [
        (dict(vocab_size=0, horizon=2), ValueError),
        (dict(vocab_size=2, horizon=0), ValueError),
        (dict(vocab_size=2, horizon=-1), ValueError),
        (dict(vocab_size=2.0, horizon=2), TypeError),
        (dict(vocab_size=True, horizon=2), TypeError),
        (dict(vocab_size=2, horizon=2, eos="yes"), TypeError),
    ],
)
def test_bad_sizes(kwargs, err):
  with pytest.raises(err, match="vocab_size|horizon|eos"):
    ae.SequenceSpace(**kwargs)


def test_enumeration_count_matches_formula():
  for V, T in itertools.product(range(1, 5), range(1, 5)):
    assert ae.SequenceSpace(V, T, True).num_sequences == sum(V**k for k in range(T))
    assert len(ae.SequenceSpace(V, T, True).sequences()) == sum(V**k for k in range(T))
