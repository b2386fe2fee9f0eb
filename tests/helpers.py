"""Shared test helpers: spaces to sweep, call variants (plain / jit / vmap), random tables."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

import armebm_jax as ae

# Every small space the identities are checked on: V, T <= 4, fixed and EOS.
SMALL_SPACES = [
    ae.SequenceSpace(V, T, eos)
    for V, T in [(1, 3), (2, 1), (2, 4), (3, 3), (4, 2), (4, 4)]
    for eos in (False, True)
]
VARIANTS = ("plain", "jit", "vmap")
# (call variant, dtype): float64 checks exactness to ~1e-12 under every variant; float32 the tolerance.
VARIANT_DTYPES = [("plain", jnp.float64), ("jit", jnp.float64), ("vmap", jnp.float64),
                  ("jit", jnp.float32)]
VARIANT_DTYPE_IDS = ["plain-f64", "jit-f64", "vmap-f64", "jit-f32"]
BATCH = 3


def space_id(space):
  return f"V{space.vocab_size}T{space.horizon}{'eos' if space.eos else 'fix'}"


def call(variant, fn, space, *args, **kwargs):
  """Run ``fn(*args, space, **kwargs)`` as a plain call, under jit, or under vmap.

  For ``vmap``, each positional argument must be a batch (leading axis ``BATCH``) and the result
  is batched too; for the others the arguments are single examples.
  """
  f = lambda *a: fn(*a, space, **kwargs)
  if variant == "plain":
    return f(*args)
  if variant == "jit":
    return jax.jit(f)(*args)
  if variant == "vmap":
    return jax.vmap(f)(*args)
  raise ValueError(variant)


def random_tables(space, seed, dtype=jnp.float64, scale=1.0, batch=None):
  """Random valid tables from NumPy (fast: no per-shape compilation), ``-inf`` where forbidden."""
  rng = np.random.default_rng(seed)
  lead = () if batch is None else (batch,)
  return tuple(
      jnp.asarray(np.where(m, scale * rng.standard_normal(lead + m.shape), -np.inf), dtype)
      for m in space.valid_masks())


def unstack(tables, i):
  return tuple(x[i] for x in tables)


def tol(dtype):
  return dict(rtol=1e-12, atol=1e-12) if dtype == jnp.float64 else dict(rtol=2e-5, atol=2e-5)


def assert_tables_close(a, b, **kw):
  assert len(a) == len(b)
  for x, y in zip(a, b, strict=True):
    np.testing.assert_allclose(np.asarray(x, np.float64), np.asarray(y, np.float64), **kw)


@functools.cache
def sequences_as_tuples(space):
  """The library's sequence order as tuples without padding after EOS."""
  out = []
  for row in space.sequences():
    row = [int(a) for a in row]
    if space.eos:
      row = row[: row.index(space.eos_id) + 1]
    out.append(tuple(row))
  return out
