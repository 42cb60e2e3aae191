"""The evidence model (findings, factors, manifests, assessments) and the ledger that keeps it."""

from neurath.evidence._assessment import Assessment
from neurath.evidence._ledger import Ledger, LedgerRecord
from neurath.evidence._load import load_findings_jsonl, load_manifest, manifest_from_data
from neurath.evidence._model import (
    FACTOR_KINDS,
    MANIFEST_VERSION,
    Expected,
    Factor,
    FactorKind,
    Finding,
    Manifest,
    point_value,
)

__all__ = [
    "FACTOR_KINDS",
    "MANIFEST_VERSION",
    "Assessment",
    "Expected",
    "Factor",
    "FactorKind",
    "Finding",
    "Ledger",
    "LedgerRecord",
    "Manifest",
    "load_findings_jsonl",
    "load_manifest",
    "manifest_from_data",
    "point_value",
]
