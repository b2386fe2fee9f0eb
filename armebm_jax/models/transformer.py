"""The paper's Transformer ARM and EBM (Blondel et al., 2026, Sec. 5 and App. C), in Flax NNX.

Pre-LayerNorm blocks ``x + MHA(LN(x))`` then ``x + Linear_D(relu(Linear_F(LN(x))))``, learned token and
position embeddings, no final LayerNorm. BOS (id ``A``, after every action) is in the embedding
vocabulary but not in the ARM head.

* ARM: causal mask; reads ``[BOS, y_1..y_{T-1}]`` and predicts ``y_1..y_T`` with a ``Linear(A)`` head.
* EBM: no mask; reads ``[BOS, y_1..y_T]``, averages over positions, ``Linear(1)`` head.

Sizes N=2, H=2, D=16, F=16 give an EBM of 3,633 parameters on V=8, T=4 (fixed length); N=3, H=4,
D=64, F=64 give 76,609.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from armebm_jax.spaces import SequenceSpace

__all__ = ["TransformerARM", "TransformerEBM", "count_params", "state_covering_prefixes",
           "tables_from_prefix_logits"]


def count_params(model: nnx.Module) -> int:
  """Number of scalar parameters (``nnx.Param``) of a model.

  Examples:
    >>> from armebm_jax.models import TransformerEBM, count_params
    >>> ebm = TransformerEBM(vocab_size=8, horizon=4, num_layers=2, num_heads=2, dim=16, mlp_dim=16,
    ...                      rngs=nnx.Rngs(0))
    >>> count_params(ebm)              # 3633, as in the paper
  """
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nnx.state(model, nnx.Param)))


def state_covering_prefixes(space: SequenceSpace) -> np.ndarray:
  """``(V**(T-1), T)`` int32: every content prefix of length ``T-1``, padded by one unread token.

  Run through a causal ARM, row ``t`` of prefix ``j`` holds the logits of state ``j // V**(T-1-t)``,
  so these ``V**(T-1)`` sequences cover every state (``V×`` fewer than one pass per sequence).

  Examples:
    >>> from armebm_jax.models import state_covering_prefixes
    >>> state_covering_prefixes(ae.SequenceSpace(2, 3)).shape      # (4, 3): V**(T-1) rows
  """
  V, T = space.vocab_size, space.horizon
  prefixes = np.zeros((V ** (T - 1), T), np.int32)
  if T > 1:
    prefixes[:, : T - 1] = SequenceSpace(V, T - 1).sequences()
  return prefixes


def tables_from_prefix_logits(logits: jax.Array, space: SequenceSpace) -> tuple[jax.Array, ...]:
  """Logit tables from an ARM's ``(V**(T-1), T, A)`` logits on :func:`state_covering_prefixes`.

  Examples:
    >>> from armebm_jax.models import TransformerARM, state_covering_prefixes, tables_from_prefix_logits
    >>> arm = TransformerARM(vocab_size=2, horizon=3, num_layers=1, num_heads=1, dim=8, mlp_dim=8,
    ...                      rngs=nnx.Rngs(0))
    >>> q = tables_from_prefix_logits(arm(jnp.asarray(state_covering_prefixes(arm.space))), arm.space)
  """
  V, T = space.vocab_size, space.horizon
  return tuple(logits[:: V ** (T - 1 - t), t] for t in range(T))


def _check_sizes(vocab_size, horizon, num_layers, num_heads, dim, mlp_dim):
  for name, value in dict(vocab_size=vocab_size, horizon=horizon, num_layers=num_layers,
                          num_heads=num_heads, dim=dim, mlp_dim=mlp_dim).items():
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
      raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 1:
      raise ValueError(f"{name} must be >= 1, got {value}")
  if dim % num_heads:
    raise ValueError(f"dim must be divisible by num_heads, got dim={dim}, num_heads={num_heads}")


def _with_bos(tokens_xT, space: SequenceSpace, bos_id: int) -> jax.Array:
  """Validate ``(..., T)`` responses and prepend BOS: ``(..., T+1)``."""
  tokens_xT = jnp.asarray(tokens_xT)
  if tokens_xT.shape[-1:] != (space.horizon,):
    raise ValueError(f"tokens: expected last axis {space.horizon} (the horizon), "
                     f"got shape {tokens_xT.shape}")
  bos = jnp.full(tokens_xT.shape[:-1] + (1,), bos_id, tokens_xT.dtype)
  return jnp.concatenate([bos, tokens_xT], axis=-1)


class Block(nnx.Module):
  """Pre-LayerNorm Transformer block: ``x + MHA(LN(x))``, then ``x + W_D relu(W_F LN(x))``."""

  def __init__(self, dim: int, num_heads: int, mlp_dim: int, *, rngs: nnx.Rngs):
    self.ln_attn = nnx.LayerNorm(dim, rngs=rngs)
    self.attn = nnx.MultiHeadAttention(num_heads=num_heads, in_features=dim, qkv_features=dim,
                                       out_features=dim, decode=False, rngs=rngs)
    self.ln_mlp = nnx.LayerNorm(dim, rngs=rngs)
    self.mlp_in = nnx.Linear(dim, mlp_dim, rngs=rngs)
    self.mlp_out = nnx.Linear(mlp_dim, dim, rngs=rngs)

  def __call__(self, x_LxD: jax.Array, mask: jax.Array | None) -> jax.Array:
    x_LxD = x_LxD + self.attn(self.ln_attn(x_LxD), mask=mask)
    return x_LxD + self.mlp_out(jax.nn.relu(self.mlp_in(self.ln_mlp(x_LxD))))


class _Backbone(nnx.Module):
  """Token + position embeddings and ``num_layers`` blocks over sequences of ``length`` tokens."""

  def __init__(self, num_embeddings: int, length: int, num_layers: int, num_heads: int, dim: int,
               mlp_dim: int, *, rngs: nnx.Rngs):
    self.embed = nnx.Embed(num_embeddings, dim, rngs=rngs)
    self.pos_embed = nnx.Embed(length, dim, rngs=rngs)
    self.blocks = nnx.List([Block(dim, num_heads, mlp_dim, rngs=rngs) for _ in range(num_layers)])

  def __call__(self, tokens_xL: jax.Array, causal: bool) -> jax.Array:
    L = tokens_xL.shape[-1]
    x = self.embed(tokens_xL) + self.pos_embed(jnp.arange(L))
    mask = nnx.make_causal_mask(jnp.ones(tokens_xL.shape, bool)) if causal else None
    for block in self.blocks:
      x = block(x, mask)
    return x


class _Transformer(nnx.Module):
  """What the ARM and the EBM share: sizes, the space, BOS (id ``A``) and the backbone."""

  def __init__(self, vocab_size, horizon, num_layers, num_heads, dim, mlp_dim, eos, rngs, *, length):
    _check_sizes(vocab_size, horizon, num_layers, num_heads, dim, mlp_dim)
    self.space = SequenceSpace(vocab_size, horizon, eos)
    self.bos_id = self.space.num_actions
    self.backbone = _Backbone(self.bos_id + 1, length, num_layers, num_heads, dim, mlp_dim, rngs=rngs)


class TransformerARM(_Transformer):
  """Causal Transformer ARM over a :class:`SequenceSpace`; logits ``(..., T, A)`` for responses ``(..., T)``.

  Examples:
    >>> model = TransformerARM(vocab_size=8, horizon=4, num_layers=2, num_heads=2, dim=16, mlp_dim=16,
    ...                        rngs=nnx.Rngs(0))
    >>> q = model.logit_tables()   # tuple of (8**t, 8) tables: the input of ae.rewards_to_logits & co.
  """

  def __init__(self, *, vocab_size: int, horizon: int, num_layers: int, num_heads: int, dim: int,
               mlp_dim: int, eos: bool = False, rngs: nnx.Rngs):
    super().__init__(vocab_size, horizon, num_layers, num_heads, dim, mlp_dim, eos, rngs,
                     length=horizon)
    self.head = nnx.Linear(dim, self.space.num_actions, rngs=rngs)

  def __call__(self, tokens_xT: jax.Array) -> jax.Array:
    """Next-token logits: row ``t`` is ``q(s_t, ·)`` with ``s_t = y_<t``; only ``y_1..y_{T-1}`` are read.

    Forbidden entries (content at the last step of an EOS space) are ``-inf``.
    """
    inputs = _with_bos(tokens_xT, self.space, self.bos_id)[..., :-1]
    logits = self.head(self.backbone(inputs, causal=True))
    if self.space.eos:
      logits = logits.at[..., -1, : self.space.vocab_size].set(-jnp.inf)
    return logits

  def logit_tables(self) -> tuple[jax.Array, ...]:
    """Logits at every state of the space: ``tables[t] = q(s, ·)`` for all ``V**t`` prefixes ``s``.

    Runs the model on the ``V**(T-1)`` content sequences of length ``T-1`` (padded by one token that
    is never read): their prefixes cover every state, ``V×`` fewer evaluations than one pass per
    sequence. Row ``t`` of sequence ``j`` is the state ``j // V**(T-1-t)``.
    """
    return tables_from_prefix_logits(self(jnp.asarray(state_covering_prefixes(self.space))),
                                     self.space)


class TransformerEBM(_Transformer):
  """Non-causal Transformer EBM: a scalar score ``R(y)`` for each response ``(..., T)``."""

  def __init__(self, *, vocab_size: int, horizon: int, num_layers: int, num_heads: int, dim: int,
               mlp_dim: int, eos: bool = False, rngs: nnx.Rngs):
    super().__init__(vocab_size, horizon, num_layers, num_heads, dim, mlp_dim, eos, rngs,
                     length=horizon + 1)
    self.head = nnx.Linear(dim, 1, rngs=rngs)

  def __call__(self, tokens_xT: jax.Array) -> jax.Array:
    """Scores ``R(y)``: reads ``[BOS, y_1..y_T]`` (EOS-padded), mean over positions, ``Linear(1)``."""
    x = self.backbone(_with_bos(tokens_xT, self.space, self.bos_id), causal=False)
    return self.head(jnp.mean(x, axis=-2))[..., 0]

  def scores(self, chunk_size: int | None = None) -> jax.Array:
    """``(N,)`` scores of every sequence of the space, in ``sequences()`` order, ``chunk_size`` at a time."""
    seqs = jnp.asarray(self.space.sequences())
    n = seqs.shape[0]
    if chunk_size is None or chunk_size >= n:
      return self(seqs)
    pad = (-n) % chunk_size
    padded = jnp.concatenate([seqs, jnp.zeros((pad, seqs.shape[1]), seqs.dtype)]) if pad else seqs
    chunks = padded.reshape(-1, chunk_size, seqs.shape[1])
    graphdef, state = nnx.split(self)
    score_chunk = lambda c: nnx.merge(graphdef, state)(c)  # peak memory: one chunk's activations
    return jax.lax.map(score_chunk, chunks).reshape(-1)[:n]
