"""The default study under each controller, side by side in one run: log loss against budget.

Question (issue 5): does ``voi`` reach the ``scripted`` controller's log loss with at most half
its budget? ``scripted`` runs the whole battery on every target; ``voi`` then runs under
budgets that are fractions of what ``scripted`` spent, and ``random`` under the same budgets
as a baseline. The ratio reported is the smallest fraction at which ``voi``'s log loss is at
most ``scripted``'s.

    .venv/bin/python benchmarks/bench_study.py [--organisms DIR] [--fractions 0.2,0.3,0.5]

The suite is built (or reused) in ``--organisms`` and the calibration is cached there, so
only the research and assessment are timed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--organisms", default=None, help="suite folder (default: a temp one)")
    parser.add_argument("--fractions", default="0.2,0.3,0.4,0.5,0.75,1.0")
    args = parser.parse_args()

    from neurath.testbed import default_study, run_study

    organisms = Path(args.organisms or tempfile.mkdtemp(prefix="neurath-organisms-"))
    runs = Path(tempfile.mkdtemp(prefix="neurath-bench-runs-"))
    base = default_study()
    rows = []

    def one(controller: str, budget: int | None, label: str) -> object:
        study = base.model_copy(
            update={
                "controller": controller,
                "budget": base.budget.model_copy(update={"queries": budget}),
            }
        )
        start = time.perf_counter()
        r = run_study(study, runs_dir=runs, organisms_dir=organisms, run_id=label)
        took = time.perf_counter() - start
        m = r.metrics["correlated"]
        rows.append(
            (
                label,
                controller,
                budget,
                r.spent["queries"],
                m.log_loss,
                m.brier,
                m.calibration_slope,
                m.false_reassurances,
                took,
            )
        )
        print(
            f"{label:>14}  {controller:>8}  budget {budget or 0:>6}  "
            f"spent {r.spent['queries']:>6}  "
            f"log loss {m.log_loss:.4f}  naive {r.metrics['naive'].log_loss:.4f}  "
            f"brier {m.brier:.4f}  slope {m.calibration_slope:.2f}  "
            f"false reassurances {m.false_reassurances}  {took:.1f} s",
            flush=True,
        )
        return r

    scripted = one("scripted", None, "scripted")
    full = scripted.spent["queries"]  # type: ignore[attr-defined]
    target = scripted.metrics["correlated"].log_loss  # type: ignore[attr-defined]
    reached = None
    for frac in [float(f) for f in args.fractions.split(",")]:
        budget = round(frac * full)
        r = one("voi", budget, f"voi-{frac:g}")
        one("random", budget, f"random-{frac:g}")
        if reached is None and r.metrics["correlated"].log_loss <= target:  # type: ignore[attr-defined]
            reached = (frac, r.spent["queries"])  # type: ignore[attr-defined]
    print()
    print(f"scripted: {full} queries, log loss {target:.4f}")
    if reached:
        frac, spent = reached
        print(
            f"voi reaches it at budget fraction {frac:g} "
            f"(spent {spent} queries: ratio {spent / full:.3f} of scripted's)"
        )
    else:
        print("voi does not reach scripted's log loss at any budget tried")


if __name__ == "__main__":
    main()
