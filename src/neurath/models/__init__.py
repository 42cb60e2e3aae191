"""Target models: the interface every experiment uses, its backends, and the transformers
utilities (training, generation, model creation) that local models and organisms share."""

from __future__ import annotations

from neurath.models._backends import TargetBackend, load_target, target_backend
from neurath.models._target import ModelCard, TargetModel

__all__ = ["ModelCard", "TargetBackend", "TargetModel", "load_target", "target_backend"]
