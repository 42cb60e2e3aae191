"""The research environment and its controllers.

- :class:`ResearchEnvironment`: the tools a controller may use (run an experiment, sample,
  fine-tune, ask raters, read the ledger), each charged to a :class:`Budget`, written to a
  hash-chained :class:`AuditLog` as typed events, and each finding recorded in the ledger as
  it is made.
- Controllers (``@controller``): ``scripted``, ``random``, ``voi`` and ``llm``; installed
  packages add more through the ``neurath.controllers`` entry point.

Studies that run the environment on organisms and score it are the testbed's
(:mod:`neurath.testbed`).
"""

from neurath.research._audit import GENESIS, AuditEntry, AuditLog, AuditReport, verify_audit
from neurath.research._budget import Budget, Spent
from neurath.research._controllers import (
    Controller,
    ControllerInfo,
    controller,
    controllers,
    get_controller,
    make_controller,
)
from neurath.research._environment import ResearchEnvironment
from neurath.research._events import AuditEvent, parse_event
from neurath.research._tools import ToolSpec, tool, tool_specs
from neurath.research._voi import expected_information_gain, separation

__all__ = [
    "GENESIS",
    "AuditEntry",
    "AuditEvent",
    "AuditLog",
    "AuditReport",
    "Budget",
    "Controller",
    "ControllerInfo",
    "ResearchEnvironment",
    "Spent",
    "ToolSpec",
    "controller",
    "controllers",
    "expected_information_gain",
    "get_controller",
    "make_controller",
    "parse_event",
    "separation",
    "tool",
    "tool_specs",
    "verify_audit",
]
