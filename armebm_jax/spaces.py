"""Sequence spaces: the prefix tree of responses to one prompt (Blondel et al., 2026, Sec. 2).

A :class:`SequenceSpace` fixes the vocabulary, the horizon and whether responses end with EOS. Every
function over state–action pairs of one prompt is a **tuple of tables**, one per depth
``t = 0..T-1``, with ``tables[t].shape == (V**t, A)`` and ``A = V + eos``. The state at depth ``t`` is
its content prefix ``(y_1..y_t)`` read in base ``V`` with the first token most significant, so the
children of state ``i`` are ``i*V + a`` and the soft values of every child of depth ``t`` are
``logsumexp(tables[t+1]).reshape(V**t, V)``. Entries for forbidden actions hold ``-inf``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["SequenceSpace", "Tables"]

Tables = tuple[jax.Array, ...]


def _is_concrete(x) -> bool:
  return not isinstance(x, jax.core.Tracer)


@dataclasses.dataclass(frozen=True)
class SequenceSpace:
  """All responses to one prompt: fixed-length (``eos=False``) or EOS-terminated (``eos=True``).

  * ``eos=False``: every response has exactly ``horizon`` content tokens; there are ``V**T`` of them,
    and the terminal step is step ``T``.
  * ``eos=True``: a response is ``0..T-1`` content tokens followed by EOS (id ``vocab_size``); at
    depth ``T-1`` only EOS is allowed (Eq. 3), so there are ``1 + V + … + V**(T-1)`` responses.

  The space is a frozen, hashable dataclass: pass it as a static argument to ``jax.jit``.

  Examples:
    >>> space = SequenceSpace(vocab_size=8, horizon=4, eos=True)
    >>> space.num_sequences, space.num_actions, space.eos_id
    (585, 9, 8)
    >>> space.table_shapes
    ((1, 9), (8, 9), (64, 9), (512, 9))
  """

  vocab_size: int
  horizon: int
  eos: bool = False

  def __post_init__(self):
    for name in ("vocab_size", "horizon"):
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"SequenceSpace: {name} must be an int, got {type(value).__name__} {value!r}")
      if value < 1:
        raise ValueError(f"SequenceSpace: {name} must be >= 1, got {value}")
      object.__setattr__(self, name, int(value))
    if not isinstance(self.eos, (bool, np.bool_)):
      raise TypeError(f"SequenceSpace: eos must be a bool, got {type(self.eos).__name__} {self.eos!r}")
    object.__setattr__(self, "eos", bool(self.eos))

  # ----------------------------------------------------------------------------------- sizes
  @property
  def num_actions(self) -> int:
    """``A = V + 1`` with EOS, else ``V``."""
    return self.vocab_size + int(self.eos)

  @property
  def eos_id(self) -> int | None:
    """The id of EOS (``vocab_size``), or ``None`` for a fixed-length space."""
    return self.vocab_size if self.eos else None

  @property
  def num_states(self) -> tuple[int, ...]:
    """Number of states (prefixes) at each depth: ``V**t`` for ``t = 0..T-1``."""
    return tuple(self.vocab_size**t for t in range(self.horizon))

  @property
  def table_shapes(self) -> tuple[tuple[int, int], ...]:
    """``((V**t, A) for t in 0..T-1)``."""
    return tuple((n, self.num_actions) for n in self.num_states)

  @property
  def num_entries(self) -> int:
    """Total number of state–action entries, forbidden ones included."""
    return sum(self.num_states) * self.num_actions

  @property
  def num_sequences(self) -> int:
    """Number of complete responses ``N``: ``V**T``, or ``Σ_{k<T} V**k`` with EOS."""
    if self.eos:
      return sum(self.num_states)
    return self.vocab_size**self.horizon

  # ----------------------------------------------------------------------------------- masks
  def valid_masks(self) -> tuple[np.ndarray, ...]:
    """Boolean tables, ``True`` where an action is allowed (all but content at depth T-1 with EOS)."""
    return _valid_masks(self)

  def terminal_masks(self) -> tuple[np.ndarray, ...]:
    """Boolean tables, ``True`` where an action ends the response (EOS, or any action at step T)."""
    return _terminal_masks(self)

  def mask_invalid(self, tables: Sequence[jax.Array]) -> tuple[jax.Array, ...]:
    """Set every forbidden entry of ``tables`` to ``-inf`` (e.g. raw model logits at depth T-1)."""
    self.check_tables(tables, "tables", check_values=False)
    if not self.eos:
      return tuple(jnp.asarray(x) for x in tables)
    out = [jnp.asarray(x) for x in tables]
    out[-1] = jnp.where(self.valid_masks()[-1], out[-1], -jnp.inf)
    return tuple(out)

  # ----------------------------------------------------------------------------------- enumeration
  def sequences(self) -> np.ndarray:
    """Every complete response, int32 ``(N, T)``; positions after EOS hold ``eos_id``.

    Order: fixed-length spaces list sequences lexicographically (base-``V`` rank). EOS spaces list
    them by number of content tokens, then lexicographically: ``[EOS], [0, EOS], [1, EOS], …``.
    Every function returning a ``(N,)`` vector over sequences uses this order. Read-only.
    """
    return _sequences(self)

  def sequence_lengths(self) -> np.ndarray:
    """Number of tokens of each response, EOS included, int32 ``(N,)`` in :meth:`sequences` order."""
    if not self.eos:
      return np.full(self.num_sequences, self.horizon, np.int32)
    return np.concatenate([np.full(n, t + 1, np.int32) for t, n in enumerate(self.num_states)])

  def state_indices(self, tokens: jax.Array) -> jax.Array:
    """Index of the state visited at each step of a response: ``(T,)`` ints, ``i_{t+1} = i_t·V + y_t``.

    Steps after EOS repeat the index of the EOS state (they visit no state). Works under jit/vmap.
    """
    tokens = jnp.asarray(tokens)
    if tokens.shape != (self.horizon,):
      raise ValueError(f"tokens: expected shape ({self.horizon},), got {tokens.shape}")
    idx, out = jnp.zeros((), jnp.int32), []
    for t in range(self.horizon):
      out.append(idx)
      tok = tokens[t].astype(jnp.int32)
      step = tok < self.vocab_size
      idx = jnp.where(step, idx * self.vocab_size + jnp.minimum(tok, self.vocab_size - 1), idx)
    return jnp.stack(out)

  def sequence_index(self, tokens: jax.Array) -> jax.Array:
    """Position of a response in :meth:`sequences` order (int32 scalar); works under jit/vmap.

    Examples:
      >>> space = SequenceSpace(3, 2, eos=True)      # [EOS], [0,EOS], [1,EOS], [2,EOS]
      >>> int(space.sequence_index(jnp.array([2, 3])))
      3
    """
    tokens = jnp.asarray(tokens)
    if tokens.shape != (self.horizon,):
      raise ValueError(f"tokens: expected shape ({self.horizon},), got {tokens.shape}")
    V = self.vocab_size
    content = tokens < V
    idx = jnp.zeros((), jnp.int32)
    for t in range(self.horizon):
      idx = jnp.where(content[t], idx * V + tokens[t].astype(jnp.int32), idx)
    if not self.eos:
      return idx
    offsets = jnp.asarray(np.cumsum((0,) + self.num_states), jnp.int32)
    return offsets[jnp.sum(content)] + idx

  # ----------------------------------------------------------------------------------- tables
  def full_tables(self, fill_value: float = 0.0, dtype=jnp.float32) -> tuple[jax.Array, ...]:
    """Tables holding ``fill_value`` at every allowed entry and ``-inf`` elsewhere."""
    return tuple(
        jnp.where(m, jnp.asarray(fill_value, dtype), jnp.asarray(-jnp.inf, dtype))
        for m in self.valid_masks()
    )

  def random_tables(self, key: jax.Array, scale: float = 1.0, dtype=jnp.float32,
                    loc: float = 0.0) -> tuple[jax.Array, ...]:
    """Random valid tables: ``loc + scale · N(0, 1)`` at allowed entries, ``-inf`` elsewhere."""
    return _random_tables(key, jnp.asarray(scale, dtype), jnp.asarray(loc, dtype), self, dtype)

  def check_tables(self, tables, name: str, check_values: bool = True) -> tuple[jax.Array, ...]:
    """Validate a tuple of tables for this space and return it as a tuple of arrays.

    Raises ``TypeError`` for a non-sequence or non-floating tables and ``ValueError`` for a wrong
    number of tables, a wrong shape, or (when the values are concrete and ``check_values``) a finite
    entry where the space forbids the action. Runs in Python, before anything is traced.
    """
    if isinstance(tables, (jax.Array, np.ndarray)) or not isinstance(tables, (tuple, list)):
      raise TypeError(
          f"{name}: expected a tuple of {self.horizon} tables (one per depth t=0..{self.horizon - 1}) "
          f"for {self}, got {type(tables).__name__}")
    if len(tables) != self.horizon:
      raise ValueError(
          f"{name}: expected {self.horizon} tables (one per depth) for {self}, got {len(tables)}")
    out = []
    for t, (x, shape) in enumerate(zip(tables, self.table_shapes, strict=True)):
      if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        x = np.asarray(x)
      if tuple(x.shape) != shape:
        raise ValueError(f"{name}[{t}]: expected shape {shape} for {self}, got {tuple(x.shape)}")
      if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{name}[{t}]: expected a floating dtype, got {x.dtype}")
      out.append(x)
    if check_values and self.eos and _is_concrete(out[-1]):
      forbidden = np.asarray(out[-1])[:, : self.vocab_size]
      if np.any(forbidden != -np.inf):
        raise ValueError(
            f"{name}[{self.horizon - 1}]: content tokens are forbidden at depth T-1 of an EOS space "
            f"(only EOS may follow {self.horizon - 1} content tokens), so these entries must be -inf; "
            f"found {int(np.sum(forbidden != -np.inf))} that are not. "
            "Use space.mask_invalid(tables) on raw model logits.")
    return tuple(jnp.asarray(x) for x in out)


@functools.partial(jax.jit, static_argnames=("space", "dtype"))
def _random_tables(key, scale, loc, space: SequenceSpace, dtype) -> tuple[jax.Array, ...]:
  keys = jax.random.split(key, space.horizon)
  return tuple(
      jnp.where(m, loc + scale * jax.random.normal(k, m.shape, dtype), -jnp.inf).astype(dtype)
      for k, m in zip(keys, space.valid_masks(), strict=True)
  )


@functools.lru_cache(maxsize=64)
def _valid_masks(space: SequenceSpace) -> tuple[np.ndarray, ...]:
  masks = []
  for t, shape in enumerate(space.table_shapes):
    m = np.ones(shape, bool)
    if space.eos and t == space.horizon - 1:
      m[:, : space.vocab_size] = False
    m.setflags(write=False)
    masks.append(m)
  return tuple(masks)


@functools.lru_cache(maxsize=64)
def _terminal_masks(space: SequenceSpace) -> tuple[np.ndarray, ...]:
  masks = []
  for t, shape in enumerate(space.table_shapes):
    m = np.zeros(shape, bool)
    if space.eos:
      m[:, space.vocab_size] = True
    elif t == space.horizon - 1:
      m[:] = True
    m.setflags(write=False)
    masks.append(m)
  return tuple(masks)


def _digits(count: int, width: int, base: int) -> np.ndarray:
  """Base-``base`` digits (most significant first) of ``0..count-1``: int64 ``(count, width)``."""
  n = np.arange(count, dtype=np.int64)[:, None]
  powers = base ** np.arange(width - 1, -1, -1, dtype=np.int64)
  return (n // powers) % base


@functools.lru_cache(maxsize=16)
def _sequences(space: SequenceSpace) -> np.ndarray:
  V, T = space.vocab_size, space.horizon
  if not space.eos:
    seqs = _digits(V**T, T, V)
  else:
    blocks = []
    for k in range(T):  # k content tokens, then EOS padding
      block = np.full((V**k, T), V, np.int64)
      block[:, :k] = _digits(V**k, k, V)
      blocks.append(block)
    seqs = np.concatenate(blocks)
  seqs = seqs.astype(np.int32)
  seqs.setflags(write=False)
  return seqs
