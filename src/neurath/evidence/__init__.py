"""The evidence model (findings, factors, manifests, assessments) and the ledger that keeps it."""

from neurath.evidence._assessment import Assessment
from neurath.evidence._backend import ledger_exists, prepare_location
from neurath.evidence._ledger import Ledger, LedgerRecord, StoredAssessment, verify_ledger
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
from neurath.evidence._model_v2 import Component, ComponentExpectation, FindingV2, ManifestV2
from neurath.evidence._reading import Anchor, StoredReview
from neurath.evidence._verify import LedgerReport

__all__ = [
    "FACTOR_KINDS",
    "MANIFEST_VERSION",
    "Anchor",
    "Assessment",
    "Component",
    "ComponentExpectation",
    "Expected",
    "Factor",
    "FactorKind",
    "Finding",
    "FindingV2",
    "Ledger",
    "LedgerRecord",
    "LedgerReport",
    "Manifest",
    "ManifestV2",
    "StoredAssessment",
    "StoredReview",
    "ledger_exists",
    "load_findings_jsonl",
    "load_manifest",
    "manifest_from_data",
    "point_value",
    "prepare_location",
    "verify_ledger",
]
