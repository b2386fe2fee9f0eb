"""Flax NNX models whose outputs feed the functional core (Blondel et al., 2026, Sec. 5, App. C).

* :class:`TransformerARM` (causal) and :class:`TransformerEBM` (non-causal): the paper's backbone.
* :class:`TabularARM` and :class:`TabularEBM`: one free parameter per state–action / per sequence.

Every ARM gives logit tables over a :class:`~armebm_jax.SequenceSpace` (``model.logit_tables()``);
every EBM gives scores for all sequences of the space (``model.scores()``).
"""

from armebm_jax.models.tabular import TabularARM, TabularEBM
from armebm_jax.models.transformer import (
    TransformerARM,
    TransformerEBM,
    count_params,
    state_covering_prefixes,
    tables_from_prefix_logits,
)

__all__ = ["TabularARM", "TabularEBM", "TransformerARM", "TransformerEBM", "count_params",
           "state_covering_prefixes", "tables_from_prefix_logits"]
