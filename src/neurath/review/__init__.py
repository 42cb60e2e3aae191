"""Human review of AI research outputs (seed 001's level 3), with reviewers' reliability
measured on gold items.

:class:`ReviewService` is the queue over a runs folder and a ledger that ``neurath serve``
shows; :mod:`neurath.review._simulate` has the simulated reviewers the benchmark and tests use.
"""

from neurath._errors import ReviewError
from neurath.evidence._reading import StoredReview
from neurath.review._adjust import ItemOutcome, ReviewedAssessment
from neurath.review._calibration import ReviewerStats
from neurath.review._items import ANSWERS, QUESTIONS, ItemView, ReviewItem, ReviewMode
from neurath.review._service import ReviewService, SubmitResult, load_gold

__all__ = [
    "ANSWERS",
    "QUESTIONS",
    "ItemOutcome",
    "ItemView",
    "ReviewError",
    "ReviewItem",
    "ReviewMode",
    "ReviewService",
    "ReviewedAssessment",
    "ReviewerStats",
    "StoredReview",
    "SubmitResult",
    "load_gold",
]
