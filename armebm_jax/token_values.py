"""Token-level Q, V, reward and log-prob from any language model's logits (Blondel et al., 2026, Prop. 1).

Read a model's next-token logits as soft Q-values: along a sequence ``y``, ``q_t = logits[t, y_t]``,
``v_t = logsumexp(logits[t])`` (the log-partition of every future from state ``s_t``), and the reward the
model implicitly assigns is ``r_t = q_t − v_{t+1}`` (``M⁻¹`` along one path, O(A · L)). Because
``log π(y_t|s_t) = q_t − v_t``, the rewards telescope: ``Σ_t r_t = log p(y) + v_0``.

One sequence per call; :func:`batch_token_values` is its ``jax.vmap``. Under ``jax.jit`` nothing of the
logits' size is allocated: every quantity is a reduction or a gather over the vocabulary axis.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from armebm_jax import numerics
from armebm_jax.spaces import SequenceSpace, _is_concrete

__all__ = ["TokenValues", "token_values", "batch_token_values", "path_logits"]


class TokenValues(NamedTuple):
  """Per-position values along one sequence, each ``(L,)`` (``(B, L)`` batched), logits' dtype.

  Attributes:
    q: ``q_t = logits[t, y_t]``, the soft Q-value of the chosen token.
    v: ``v_t = log Σ_a π_ref(a|s_t) e^{logits[t, a]}`` (plain logsumexp without reference).
    v_next: ``v_{t+1}`` while position ``t+1`` is inside the sequence, else 0 (terminal step).
    reward: ``r_t = q_t − v_next_t``, the implied token-level reward.
    log_prob: ``log π(y_t|s_t)``.
  Masked positions hold 0 in every field.
  """

  q: jax.Array
  v: jax.Array
  v_next: jax.Array
  reward: jax.Array
  log_prob: jax.Array


def _check_inputs(logits, tokens, mask, ref_logits, batch: bool):
  """Shape/dtype/value validation shared by the single and batched forms; runs before tracing."""
  lead = "(B, L, A)" if batch else "(L, A)"
  ndim = 3 if batch else 2
  if not hasattr(logits, "shape"):
    logits = np.asarray(logits)
  if logits.ndim != ndim:
    raise ValueError(f"logits: expected shape {lead}, got {tuple(logits.shape)}")
  if not jnp.issubdtype(logits.dtype, jnp.floating):
    raise TypeError(f"logits: expected a floating dtype, got {logits.dtype}")
  seq_shape, num_actions = tuple(logits.shape[:-1]), logits.shape[-1]
  if not hasattr(tokens, "shape"):
    tokens = np.asarray(tokens)
  if tuple(tokens.shape) != seq_shape:
    raise ValueError(f"tokens: expected shape {seq_shape} (the logits' shape without the "
                     f"vocabulary axis), got {tuple(tokens.shape)}")
  if not jnp.issubdtype(tokens.dtype, jnp.integer):
    raise TypeError(f"tokens: expected an integer dtype, got {tokens.dtype}")
  if mask is not None:
    if not hasattr(mask, "shape"):
      mask = np.asarray(mask)
    if tuple(mask.shape) != seq_shape:
      raise ValueError(f"mask: expected shape {seq_shape}, got {tuple(mask.shape)}")
    if _is_concrete(mask):
      m = np.asarray(mask).astype(bool)
      if np.any(m[..., 1:] & ~m[..., :-1]):
        bad = np.argwhere(m[..., 1:] & ~m[..., :-1])[0]
        raise ValueError(
            "mask: expected a prefix mask (True for positions 0..len-1, then False), got a True "
            f"after a False at index {tuple(int(i) for i in bad[:-1]) + (int(bad[-1]) + 1,)}")
  if ref_logits is not None:
    if not hasattr(ref_logits, "shape"):
      ref_logits = np.asarray(ref_logits)
    if tuple(ref_logits.shape) != tuple(logits.shape):
      raise ValueError(f"ref_logits: expected shape {tuple(logits.shape)} (that of logits), "
                       f"got {tuple(ref_logits.shape)}")
  if _is_concrete(tokens):
    tok = np.asarray(tokens)
    inside = np.ones(tok.shape, bool) if mask is None or not _is_concrete(mask) else np.asarray(mask)
    bad = inside & ((tok < 0) | (tok >= num_actions))
    if np.any(bad):
      where = tuple(int(i) for i in np.argwhere(bad)[0])
      raise ValueError(f"tokens: expected ids in [0, {num_actions}) (the logits' last axis), got "
                       f"{int(tok[where])} at index {where}")


@functools.partial(jax.jit, static_argnames="eos_id")
def _token_values(logits_LxA, tokens_L, mask_L, ref_logits_LxA, eos_id):
  logits_LxA = jnp.asarray(logits_LxA)
  tokens_L = jnp.asarray(tokens_L).astype(jnp.int32)
  L = logits_LxA.shape[0]
  dtype = logits_LxA.dtype
  mask_L = jnp.ones((L,), bool) if mask_L is None else jnp.asarray(mask_L, bool)
  if eos_id is not None:  # positions after the first EOS are outside the sequence
    is_eos = tokens_L == eos_id
    mask_L = mask_L & ((jnp.cumsum(is_eos) - is_eos) == 0)

  q_L = jnp.take_along_axis(logits_LxA, tokens_L[:, None], axis=-1, mode="clip")[:, 0]
  if ref_logits_LxA is None:
    v_L = numerics.logsumexp(logits_LxA, axis=-1)
    log_prob_L = q_L - v_L
  else:  # V = log Σ π_ref e^q = lse(q + ref) − lse(ref); π(y) = π_ref(y) e^{q_y} / Σ π_ref e^q
    ref_logits_LxA = jnp.asarray(ref_logits_LxA, dtype)
    lse_joint_L = numerics.logsumexp(logits_LxA, axis=-1, bias=ref_logits_LxA)
    lse_ref_L = numerics.logsumexp(ref_logits_LxA, axis=-1)
    ref_L = jnp.take_along_axis(ref_logits_LxA, tokens_L[:, None], axis=-1, mode="clip")[:, 0]
    v_L = lse_joint_L - lse_ref_L
    log_prob_L = q_L + ref_L - lse_joint_L

  zero = jnp.zeros((), dtype)
  next_inside_L = jnp.concatenate([mask_L[1:], jnp.zeros((1,), bool)])
  v_shift_L = jnp.concatenate([v_L[1:], jnp.zeros((1,), dtype)])
  v_next_L = jnp.where(next_inside_L, v_shift_L, zero)
  reward_L = q_L - v_next_L
  keep = lambda x: jnp.where(mask_L, x, zero)
  return TokenValues(keep(q_L), keep(v_L), keep(v_next_L), keep(reward_L), keep(log_prob_L))


def token_values(logits_LxA: jax.Array, tokens_L: jax.Array, mask_L: jax.Array | None = None,
                 ref_logits_LxA: jax.Array | None = None, *, eos_id: int | None = None) -> TokenValues:
  r"""Soft Q, V, reward and log-prob of one sequence from a model's logits.

  .. math::
     q_t = \ell_t[y_t],\quad v_t = \log \textstyle\sum_a e^{\ell_t[a]},\quad
     r_t = q_t - v_{t+1}\ (v_{L} = 0),\quad \log\pi(y_t|s_t) = q_t - v_t,\quad
     \textstyle\sum_t r_t = \log p(y) + v_0.

  With ``ref_logits_LxA`` the logits are residuals on a reference policy (App. A.5):
  ``π ∝ π_ref · e^q``, ``v_t = log Σ_a π_ref(a|s_t) e^{q_t[a]}`` and the rewards telescope to
  ``Σ_t r_t = log p(y) − log p_ref(y) + v_0``.

  Args:
    logits_LxA: the model's next-token logits at each position (row ``t`` predicts ``tokens_L[t]``).
    tokens_L: the sequence's token ids, integers in ``[0, A)`` inside the mask.
    mask_L: optional prefix mask, ``True`` for positions inside the sequence (padding after).
    ref_logits_LxA: optional reference-policy logits, same shape as ``logits_LxA``.
    eos_id: optional EOS id; positions after the first EOS are treated as padding.

  Returns:
    :class:`TokenValues` of ``(L,)`` arrays; masked positions hold 0.

  Examples:
    >>> logits_LxA = jax.random.normal(jax.random.PRNGKey(0), (5, 4))   # any LM's logits
    >>> tokens_L = jnp.array([2, 0, 1, 3, 3])
    >>> tv = ae.token_values(logits_LxA, tokens_L, eos_id=3)      # positions after the first EOS masked
    >>> tv.reward.sum() - (tv.log_prob.sum() + tv.v[0])           # ≈ 0: rewards telescope
  """
  _check_inputs(logits_LxA, tokens_L, mask_L, ref_logits_LxA, batch=False)
  return _token_values(logits_LxA, tokens_L, mask_L, ref_logits_LxA, eos_id)


def batch_token_values(logits_BxLxA: jax.Array, tokens_BxL: jax.Array,
                       mask_BxL: jax.Array | None = None, ref_logits_BxLxA: jax.Array | None = None,
                       *, eos_id: int | None = None) -> TokenValues:
  """:func:`token_values` over a batch, ``(B, L, A)`` logits -> :class:`TokenValues` of ``(B, L)``.

  Validates the whole batch once, then ``jax.vmap``s the single-sequence function.

  Examples:
    >>> logits_BxLxA = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 4))
    >>> tokens_BxL = jnp.array([[2, 0, 3, 3, 3], [1, 1, 1, 2, 3]])
    >>> tv = ae.batch_token_values(logits_BxLxA, tokens_BxL, eos_id=3)
    >>> tv.log_prob.sum(-1)                                        # (2,) log p(y) per sequence
  """
  _check_inputs(logits_BxLxA, tokens_BxL, mask_BxL, ref_logits_BxLxA, batch=True)
  in_axes = (0, 0, None if mask_BxL is None else 0, None if ref_logits_BxLxA is None else 0)
  fn = lambda lg, tk, mk, rf: _token_values(lg, tk, mk, rf, eos_id)
  return jax.vmap(fn, in_axes=in_axes)(logits_BxLxA, tokens_BxL, mask_BxL, ref_logits_BxLxA)


def path_logits(tables, tokens_T: jax.Array, space: SequenceSpace) -> jax.Array:
  """The rows of ``tables`` at the states a response visits: ``(T, A)``, the input of :func:`token_values`.

  Row ``t`` is ``tables[t][s_t]`` with ``s_t`` the prefix ``y_<t``. Rows after EOS (no state is
  visited) hold 0. With ``token_values(path_logits(q, y, space), y, eos_id=space.eos_id)`` the
  tree functions and the LM-facing API agree: ``reward`` is ``M⁻¹(q)`` along ``y``.

  Examples:
    >>> space = ae.SequenceSpace(3, 3)
    >>> q = space.random_tables(jax.random.PRNGKey(0))
    >>> y = jnp.array([2, 0, 1])
    >>> tv = ae.token_values(ae.path_logits(q, y, space), y)     # the LM-facing view of the tables
    >>> tv.reward                                                # = M⁻¹(q) along y
  """
  tables = space.check_tables(tables, "tables", check_values=False)
  if not hasattr(tokens_T, "shape"):
    tokens_T = np.asarray(tokens_T)
  if tuple(tokens_T.shape) != (space.horizon,):
    raise ValueError(f"tokens_T: expected shape ({space.horizon},), got {tuple(tokens_T.shape)}")
  if not jnp.issubdtype(tokens_T.dtype, jnp.integer):
    raise TypeError(f"tokens_T: expected an integer dtype, got {tokens_T.dtype}")
  if _is_concrete(tokens_T):
    tok = np.asarray(tokens_T)
    if np.any((tok < 0) | (tok >= space.num_actions)):
      raise ValueError(f"tokens_T: expected ids in [0, {space.num_actions}), got {tok.tolist()}")
  return _path_logits(tables, jnp.asarray(tokens_T), space)


@functools.partial(jax.jit, static_argnames="space")
def _path_logits(tables, tokens_T, space):
  idx_T = space.state_indices(tokens_T)
  rows = jnp.stack([tables[t][idx_T[t]] for t in range(space.horizon)])
  if not space.eos:
    return rows
  is_eos = tokens_T == space.vocab_size
  inside_T = (jnp.cumsum(is_eos) - is_eos) == 0
  return jnp.where(inside_T[:, None], rows, jnp.zeros((), rows.dtype))
