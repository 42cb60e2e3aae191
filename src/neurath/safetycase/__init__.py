"""Safety cases for a research scheme, computed from finished runs.

:func:`build_case` reads runs (and, optionally, a less automated baseline, a benchmark result
and a ledger of human reviews) and returns a :class:`SafetyCase`: claims with statuses computed
from measurements, evidence with where each figure was read (:func:`resolve` reads it again),
defeaters from the seeds with a sensitivity table, and the scheme's automation level. It is
presented by :func:`to_markdown`, :func:`to_html` (one self-contained page) and
:func:`diagram_svg` (the GSN goal structure), and exported to gsn2x's YAML by
:func:`to_gsn2x`, which :func:`validate_gsn2x` checks by gsn2x's rules.
"""

from neurath.safetycase._build import build_case, resolve
from neurath.safetycase._gsn2x import GSN2X_SCHEMA, to_gsn2x, validate_gsn2x
from neurath.safetycase._model import (
    CASE_VERSION,
    Automation,
    Claim,
    Comparison,
    Defeater,
    Evidence,
    SafetyCase,
    SensitivityRow,
    Source,
)
from neurath.safetycase._render import summary_html, to_html
from neurath.safetycase._render_md import to_markdown
from neurath.safetycase._render_svg import diagram_svg

__all__ = [
    "CASE_VERSION",
    "GSN2X_SCHEMA",
    "Automation",
    "Claim",
    "Comparison",
    "Defeater",
    "Evidence",
    "SafetyCase",
    "SensitivityRow",
    "Source",
    "build_case",
    "diagram_svg",
    "resolve",
    "summary_html",
    "to_gsn2x",
    "to_html",
    "to_markdown",
    "validate_gsn2x",
]
