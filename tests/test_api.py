"""The public surface is deliberate: pinned here so that changing it is a visible decision."""

from __future__ import annotations

import subprocess
import sys

import neurath
import neurath.engine
import neurath.evidence


def test_top_level_public_api_is_pinned() -> None:
    assert sorted(neurath.__all__) == sorted(
        [
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
    )
    for name in neurath.__all__:
        assert hasattr(neurath, name), name
    assert callable(neurath.assess)


def test_subpackage_exports_resolve() -> None:
    import neurath.experiments
    import neurath.research

    for module in (neurath.engine, neurath.evidence, neurath.experiments, neurath.research):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_import_is_cheap() -> None:
    heavy = ["torch", "transformers", "inspect_ai", "ray", "sklearn", "matplotlib"]
    code = f"import sys, neurath; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_errors_share_one_base() -> None:
    for exc in (neurath.ManifestError, neurath.LedgerError, neurath.AssessmentError):
        assert issubclass(exc, neurath.NeurathError)
