"""Brute-force references by explicit enumeration with Python loops, independent of the library.

Everything here follows the definitions in the paper literally: a sequence is a tuple of tokens (EOS
included, no padding), its states are its prefixes, R is the sum of rewards along the path, p_ARM is
the product of softmaxes, and M is defined entrywise by the log-sum-exp over all completions.
"""

import itertools
import math

import numpy as np


def all_sequences(V, T, eos):
  """Every response as a tuple of ids (EOS = V), in shortlex order."""
  if not eos:
    return list(itertools.product(range(V), repeat=T))
  out = []
  for k in range(T):
    out += [(*c, V) for c in itertools.product(range(V), repeat=k)]
  return out


def state_index(prefix, V):
  i = 0
  for a in prefix:
    i = i * V + a
  return i


def path(y, V):
  """[(t, state index, action)] along y."""
  return [(t, state_index(y[:t], V), a) for t, a in enumerate(y)]


def lse(xs):
  xs = [x for x in xs if x != -math.inf]
  if not xs:
    return -math.inf
  m = max(xs)
  return m + math.log(sum(math.exp(x - m) for x in xs))


def as_np(tables):
  return [np.asarray(x, np.float64) for x in tables]


def seq_reward(r, y, V):
  return sum(float(r[t][i, a]) for t, i, a in path(y, V))


def ebm_log_probs(r, V, T, eos, ref=None):
  """log p(y) ∝ R(y) + log p_ref(y) over all sequences (a dict y -> log p)."""
  r = as_np(r)
  seqs = all_sequences(V, T, eos)
  logits = {y: seq_reward(r, y, V) + (arm_log_prob(ref, y, V) if ref is not None else 0.0)
            for y in seqs}
  z = lse(list(logits.values()))
  return {y: s - z for y, s in logits.items()}, z


def arm_log_prob(q, y, V, ref=None):
  """log Π_t π(y_t|s_t), π = softmax(q (+ log π_ref))."""
  q = as_np(q)
  ref = as_np(ref) if ref is not None else None
  total = 0.0
  for t, i, a in path(y, V):
    row = q[t][i].copy()
    if ref is not None:
      rrow = ref[t][i]
      row = row + (rrow - lse(list(rrow)))
    total += row[a] - lse(list(row))
  return total


def bellman_logits(r, V, T, eos, ref=None):
  """M(r) entrywise: q(s,a) = r(s,a) + log Σ_{completions} p_ref(completion) exp(future rewards)."""
  r = as_np(r)
  ref = as_np(ref) if ref is not None else None
  futures = {}
  for y in all_sequences(V, T, eos):
    steps = path(y, V)
    for k, (t, i, a) in enumerate(steps):
      fut = 0.0
      for (t2, i2, a2) in steps[k + 1:]:
        fut += r[t2][i2, a2]
        if ref is not None:
          fut += ref[t2][i2, a2] - lse(list(ref[t2][i2]))
      futures.setdefault((t, i, a), []).append(fut)
  q = [np.full_like(x, -np.inf) for x in r]
  for (t, i, a), futs in futures.items():
    terminal = (eos and a == V) or (not eos and t == T - 1)
    q[t][i, a] = r[t][i, a] + (0.0 if terminal else lse(futs))
  return q


def prefix_marginals(log_p, V, T, eos):
  """μ(s_t, a) = Σ_{y through (s_t, a)} p(y), as tables."""
  A = V + int(eos)
  mu = [np.zeros((V**t, A)) for t in range(T)]
  for y, lp in log_p.items():
    for t, i, a in path(y, V):
      mu[t][i, a] += math.exp(lp)
  return mu
