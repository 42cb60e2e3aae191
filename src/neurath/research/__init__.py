"""The research environment, its controllers, and studies that score the whole pipeline.

- :class:`ResearchEnvironment`: the tools a controller may use (run an experiment, sample,
  fine-tune, ask raters, read the ledger), each charged to a :class:`Budget` and written to a
  hash-chained :class:`AuditLog`.
- Controllers (``@controller``): ``scripted``, ``random``, ``voi`` and ``llm``.
- :func:`run_study`: build, calibrate, research blind, assess, unseal, score.
"""

from neurath.research._audit import GENESIS, AuditEntry, AuditLog, AuditReport, verify_audit
from neurath.research._controllers import (
    Controller,
    ControllerInfo,
    controller,
    controllers,
    get_controller,
    make_controller,
)
from neurath.research._environment import Budget, ResearchEnvironment
from neurath.research._study import (
    Metrics,
    RunResults,
    Study,
    default_study,
    load_run,
    load_study,
    run_study,
    score,
)
from neurath.research._voi import expected_information_gain, separation

__all__ = [
    "GENESIS",
    "AuditEntry",
    "AuditLog",
    "AuditReport",
    "Budget",
    "Controller",
    "ControllerInfo",
    "Metrics",
    "ResearchEnvironment",
    "RunResults",
    "Study",
    "controller",
    "controllers",
    "default_study",
    "expected_information_gain",
    "get_controller",
    "load_run",
    "load_study",
    "make_controller",
    "run_study",
    "score",
    "separation",
    "verify_audit",
]
