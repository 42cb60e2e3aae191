"""neurath: automated alignment research that cannot fool itself.

The public API. ``import neurath`` stays cheap: heavy dependencies (torch, transformers,
inspect_ai) are imported only inside the functions that need them.
"""

from neurath._errors import AssessmentError, LedgerError, ManifestError, NeurathError
from neurath._version import __version__
from neurath.engine import assess
from neurath.evidence import (
    Assessment,
    Expected,
    Factor,
    Finding,
    Ledger,
    Manifest,
    load_manifest,
)

__all__ = [
    "Assessment",
    "AssessmentError",
    "Expected",
    "Factor",
    "Finding",
    "Ledger",
    "LedgerError",
    "Manifest",
    "ManifestError",
    "NeurathError",
    "__version__",
    "assess",
    "load_manifest",
]
