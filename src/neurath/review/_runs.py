"""Review items from a finished run, and what the run assessed them with.

A run's items are its targets' findings (with the AI's reading), the triggers its attacker
found (with the realism screen's answer) and its controller's stated reasons. In a testbed run
the targets are unsealed once assessed, so a finding's right answer is known (the target's
truth): those items are gold as well as live. Triggers and reasons have no known answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurath.evidence._assessment import Assessment
from neurath.evidence._model import Manifest
from neurath.evidence._model_v2 import ManifestV2
from neurath.review._items import (
    QUESTIONS,
    ReviewItem,
    Truth,
    finding_item,
    item_id,
    trigger_item,
)


@dataclass(frozen=True)
class TargetEvidence:
    """One target of a run as the run assessed it."""

    manifest: Manifest | ManifestV2
    assessment: Assessment
    seed: int
    triggers: dict[str, tuple[int, int, list[str]]]
    """finding id -> (k, n, triggers) of an adversarial finding: its rate is k / n, and each
    trigger is one of the k."""


@dataclass(frozen=True)
class RunItems:
    run_id: str
    items: list[Truth]
    targets: dict[str, TargetEvidence]


def _result_entries(folder: Any) -> dict[str, Any]:
    from neurath.research._audit import AuditLog

    return {e.hash: e for e in AuditLog(folder.audit_file).entries()}


def _reason_items(key: bytes, run_id: str, entries: dict[str, Any]) -> list[Truth]:
    out = []
    for h, e in entries.items():
        texts: list[str] = []
        if e.action == "llm_turn":
            texts.append(str(e.data.get("text") or "").strip())
            for call in e.data.get("tool_calls") or []:
                if call.get("tool") == "finish":
                    texts.append(str((call.get("arguments") or {}).get("reason") or "").strip())
        for i, text in enumerate(t for t in texts if t):
            item = ReviewItem(
                id=item_id(key, "reason", run_id, h, i),
                kind="reason",
                question=QUESTIONS["reason"],
                subject=text[:4000],
                context=f"Stated by the research controller ({e.actor}) at step {e.seq}.",
                ai_verdict=True,
                ai_confidence=0.9,
                run_id=run_id,
                entry=h,
                index=i,
            )
            out.append(Truth(item, None))
    return out


def run_items(path: Path, key: bytes) -> RunItems:
    """Every review item of the finished run at ``path``, and each target's evidence.

    Raises:
        ResearchError: Not a finished run (no results, a broken audit log, no ledger).
    """
    from neurath.evidence import Ledger
    from neurath.experiments._scenarios import REALISTIC, default_realism
    from neurath.testbed import RunFolder

    folder = RunFolder(path)
    results = folder.read_results()
    entries = _result_entries(folder)
    source = f"neurath run {results.run_id}"
    items: list[Truth] = []
    targets: dict[str, TargetEvidence] = {}
    with Ledger(folder.ledger_file, create=False) as ledger:
        for t in results.targets:
            manifest, stored = ledger.recorded(t.id, source)
            if manifest is None or stored is None:
                continue
            made = {r.finding.id: r for r in ledger.findings(target=t.id, source=source)}
            triggers: dict[str, tuple[int, int, list[str]]] = {}
            for f in manifest.findings:
                items.append(finding_item(key, results.run_id, t.id, f, t.scheming))
                record = made.get(f.id)
                entry = entries.get(record_entry(record)) if record is not None else None
                found = _triggers(entry)
                if found is None:
                    continue
                triggers[f.id] = found
                realism = list(default_realism().realism(found[2])) if found[2] else []
                for i, (prompt, score) in enumerate(zip(found[2], realism, strict=True)):
                    # The attacker keeps only triggers its realism screen passed: its answer
                    # is "realistic", however the bare sentences score now.
                    score = max(float(score), REALISTIC)
                    item = trigger_item(
                        key, prompt, score, REALISTIC, results.run_id, t.id, f.id, i
                    ).model_copy(
                        update={
                            "run_id": results.run_id,
                            "target": t.id,
                            "finding_id": f.id,
                            "index": i,
                        }
                    )
                    items.append(Truth(item, None))
            targets[t.id] = TargetEvidence(
                manifest, stored.assessment, results.study.seed, triggers
            )
    items += _reason_items(key, results.run_id, entries)
    return RunItems(results.run_id, items, targets)


def record_entry(record: Any) -> str:
    """The audit entry a ledger finding record came from ("" if none)."""
    return str(record.audit_entry or "")


def _triggers(entry: Any) -> tuple[int, int, list[str]] | None:
    """(k, n, triggers) of an adversarial result entry, else None."""
    if entry is None or entry.action != "result":
        return None
    result = entry.data.get("result") or {}
    if result.get("experiment") != "adversarial":
        return None
    stat = (result.get("statistics") or {}).get(result.get("statistic") or "") or {}
    triggers = [str(x) for x in (result.get("details") or {}).get("triggers") or []]
    n = int(stat.get("n") or 0)
    k = round(float(stat.get("value") or 0.0) * n)
    return k, n, triggers
