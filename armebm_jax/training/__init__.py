"""Training loops: optax Adam with the paper's trapezoid schedule, exact risks, orbax checkpoints, resume.

See :func:`train` and :class:`TrainConfig`; ``experiments/train.py`` is the command-line entry point.
"""

from armebm_jax.training.loop import (
    RunFolderError,
    TrainConfig,
    Trainer,
    load_model,
    make_model,
    make_space,
    make_target,
    make_trainer,
    train,
    trapezoid_schedule,
)
from armebm_jax.training.noise import gradient_noise, gradient_noise_fn

__all__ = [
    "RunFolderError",
    "TrainConfig",
    "gradient_noise",
    "gradient_noise_fn",
    "Trainer",
    "load_model",
    "make_model",
    "make_space",
    "make_target",
    "make_trainer",
    "train",
    "trapezoid_schedule",
]
