"""What a research run may spend, and what it has spent."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from neurath._errors import BudgetExceeded
from neurath._files import Integer


class Budget(BaseModel):
    """What a run may spend. ``None``: no limit on that resource. Each limit is a non-negative
    integer; booleans, strings and floats are refused, not coerced."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    queries: Integer | None = Field(default=None, ge=0)
    """Target calls: generations, scored continuations, hidden-state reads."""
    training_steps: Integer | None = Field(default=None, ge=0)
    """Optimiser steps of fine-tuning."""
    ratings: Integer | None = Field(default=None, ge=0)
    """Judgements asked of rater pools through ``ask_raters``."""


@dataclass
class Spent:
    """What a run has spent so far."""

    queries: int = 0
    training_steps: int = 0
    ratings: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    def left(self, budget: Budget) -> dict[str, int | None]:
        """What is left of each budgeted resource (None: unlimited)."""
        out: dict[str, int | None] = {}
        for name, used in self.as_dict().items():
            cap = getattr(budget, name)
            out[name] = None if cap is None else max(0, cap - used)
        return out

    def check(self, budget: Budget, resource: str, needed: int) -> None:
        """Raise :class:`BudgetExceeded` if ``needed`` of ``resource`` is more than is left."""
        left = self.left(budget)[resource]
        if left is not None and needed > left:
            raise BudgetExceeded(resource, needed, left)

    def add(self, queries: int = 0, training_steps: int = 0, ratings: int = 0) -> None:
        self.queries += int(queries)
        self.training_steps += int(training_steps)
        self.ratings += int(ratings)
