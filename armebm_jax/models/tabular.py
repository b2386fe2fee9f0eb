"""Tabular models: the function-space setting of Prop. 2 (Blondel et al., 2026, Sec. 4).

* :class:`TabularARM`: one free logit per state–action pair (a tuple of tables over the space).
* :class:`TabularEBM`: one free score per sequence.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from armebm_jax.spaces import SequenceSpace
from armebm_jax.token_values import _path_logits

__all__ = ["TabularARM", "TabularEBM"]


class TabularARM(nnx.Module):
  """Free logits ``q(s, a)``; ``logit_tables()`` returns them with ``-inf`` at forbidden entries."""

  def __init__(self, space: SequenceSpace, *, rngs: nnx.Rngs | None = None, scale: float = 0.0,
               param_dtype=jnp.float32):
    self.space = space
    keys = [None] * space.horizon if rngs is None else [rngs.params() for _ in range(space.horizon)]
    self.tables = nnx.List([
        nnx.Param(jnp.zeros(shape, param_dtype) if key is None or scale == 0.0
                  else scale * jax.random.normal(key, shape, param_dtype))
        for key, shape in zip(keys, space.table_shapes, strict=True)])

  def logit_tables(self) -> tuple[jax.Array, ...]:
    tables = tuple(t[...] for t in self.tables)
    if not self.space.eos:
      return tables
    last = jnp.where(self.space.valid_masks()[-1], tables[-1], -jnp.inf)
    return (*tables[:-1], last)

  def __call__(self, tokens_xT: jax.Array) -> jax.Array:
    """Next-token logits along responses ``(..., T) -> (..., T, A)``, like a causal Transformer's.

    Row ``t`` is ``q(s_t, ·)`` with ``s_t = y_<t``, as :func:`~armebm_jax.token_values.path_logits`
    gives it; rows after EOS (no state is visited) hold 0.
    """
    tokens_xT = jnp.asarray(tokens_xT)
    if tokens_xT.shape[-1:] != (self.space.horizon,):
      raise ValueError(f"tokens_xT: expected (..., {self.space.horizon}), got {tokens_xT.shape}")
    tables = self.logit_tables()
    flat = tokens_xT.reshape(-1, self.space.horizon)
    rows = jax.vmap(lambda y: _path_logits(tables, y, self.space))(flat)
    return rows.reshape(tokens_xT.shape + (self.space.num_actions,))


class TabularEBM(nnx.Module):
  """Free scores ``R(y)`` for every sequence of the space, in ``sequences()`` order."""

  def __init__(self, space: SequenceSpace, *, rngs: nnx.Rngs | None = None, scale: float = 0.0,
               param_dtype=jnp.float32):
    self.space = space
    shape = (space.num_sequences,)
    self.score_table = nnx.Param(
        jnp.zeros(shape, param_dtype) if rngs is None or scale == 0.0
        else scale * jax.random.normal(rngs.params(), shape, param_dtype))

  def scores(self, chunk_size: int | None = None) -> jax.Array:
    del chunk_size  # already materialised
    return self.score_table[...]
