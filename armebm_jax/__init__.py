"""armebm_jax: the exact correspondence between autoregressive and energy-based models, in JAX.

Implements Blondel, Sander, Vivier-Ardisson, Liu, Roulet, *Autoregressive Language Models are Secretly
Energy-Based Models: Insights into the Lookahead Capabilities of Next-Token Prediction*, ICML 2026
(arXiv 2512.15605): the soft Bellman bijection ``q = M(r)`` between next-token logits and token-level
rewards, exact log-partitions, and token-level Q/V/reward extraction from any model's logits.
"""

from armebm_jax import alignment, distill, sampling
from armebm_jax.alignment import kl_regularized_policy, kl_regularized_value
from armebm_jax.bellman import log_policy, logits_to_rewards, rewards_to_logits, soft_values
from armebm_jax.bounds import center_logits, kl_bound, sup_distance
from armebm_jax.distributions import (
    ebm_log_probs,
    entropy,
    kl_divergence,
    prefix_marginals,
    sequence_log_probs,
    sequence_rewards,
)
from armebm_jax.numerics import center, log_softmax, logsumexp, max_abs_diff
from armebm_jax.partition import log_partition, scores_to_rewards
from armebm_jax.sampling import (
    ImportanceSample,
    importance_sample,
    response_log_probs,
    sample_ebm,
    sample_model,
    sample_tables,
)
from armebm_jax.spaces import SequenceSpace, Tables
from armebm_jax.token_values import TokenValues, batch_token_values, path_logits, token_values

__version__ = "0.1.0"

__all__ = [
    "ImportanceSample",
    "SequenceSpace",
    "Tables",
    "TokenValues",
    "alignment",
    "batch_token_values",
    "center",
    "center_logits",
    "distill",
    "ebm_log_probs",
    "entropy",
    "importance_sample",
    "kl_bound",
    "kl_divergence",
    "kl_regularized_policy",
    "kl_regularized_value",
    "log_partition",
    "log_policy",
    "log_softmax",
    "logits_to_rewards",
    "logsumexp",
    "max_abs_diff",
    "path_logits",
    "prefix_marginals",
    "response_log_probs",
    "rewards_to_logits",
    "sample_ebm",
    "sample_model",
    "sample_tables",
    "sampling",
    "scores_to_rewards",
    "sequence_log_probs",
    "sequence_rewards",
    "soft_values",
    "sup_distance",
    "token_values",
]
