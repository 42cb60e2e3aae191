"""Human review: reviewer calibration on simulated reviewers, and a load test of the dashboard.

    .venv/bin/python benchmarks/bench_review.py [--runs DIR] [--organisms DIR] [--gold N]
        [--reviewers 50] [--reviews 20] [--skip-load]

1. Calibration. Careful reviewers and ones that approve whatever looks confident
   (:mod:`neurath.review._simulate`), a pool of ``--pool`` of each kind, review the whole
   queue of the runs under ``--runs`` (default: the tiny study, built in a temporary
   folder) with ``--gold`` scenario-language
   gold triggers mixed in: each pool alone in a ledger of its own, so what each does to the
   assessments is measured apart. Printed: accuracy, false approval, approval rate, the AI's
   correctness rate and the approval gap, per mode; the commit-first minus approval gaps; each
   pool's ``raters`` scale; every target's P(not scheming) before and after the reviews, and
   log loss and false reassurances over the targets (truth from the unsealed runs).
2. Load. The real dashboard (``neurath serve`` on loopback, a process of its own: one
   uvicorn worker), ``--reviewers`` accounts
   logged in, each submitting ``--reviews`` reviews from its own thread and HTTP client at
   once, and every fifth submission sent twice (a retried request). Printed: median and 99th
   percentile latency of a submission, throughput, and whether every review is in the ledger
   exactly once.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def tiny_runs(where: Path, organisms: Path) -> Path:
    """The tests' tiny study, run once into ``where/runs`` (run id ``ref``)."""
    from tests.conftest import EXPERIMENT_SUITE, study_file

    from neurath.organisms._suite import Suite
    from neurath.testbed import build_suite, load_study, run_study

    suite = Suite.model_validate(EXPERIMENT_SUITE)
    build_suite(suite, organisms, jobs=2)
    path = study_file((suite, organisms), where)
    run_study(load_study(path), runs_dir=where / "runs", organisms_dir=organisms, run_id="ref")
    return where / "runs"


def _f(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _log_loss(pairs: list[tuple[float, bool]]) -> float:
    eps = 1e-6
    total = 0.0
    for p, scheming in pairs:
        q = min(1 - eps, max(eps, p))
        total -= math.log(1 - q) if scheming else math.log(q)
    return total / max(1, len(pairs))


def calibration(runs: Path, n_gold: int, pool_size: int) -> None:
    from neurath.review import ReviewService
    from neurath.review._simulate import ApprovalSeeking, Careful, review_all
    from neurath.testbed import RunFolder

    truth_by_target = {}
    for p in sorted(runs.iterdir()):
        if (p / "results.json").exists():
            res = RunFolder(p).read_results()
            truth_by_target.update({(res.run_id, t.id): t.scheming for t in res.targets})
    print(f"== calibration: {len(truth_by_target)} targets under {runs}, {n_gold} gold triggers")
    header = (
        f"{'reviewer':<12}{'mode':<14}{'gold':>5}{'accuracy':>10}{'false appr.':>12}"
        f"{'approval':>10}{'AI right':>10}{'gap':>8}"
    )
    for reviewer in (Careful(), ApprovalSeeking()):
        with tempfile.TemporaryDirectory() as tmp:
            service = ReviewService(runs, Path(tmp) / "reviews.db", n_gold_triggers=n_gold)
            truth = service.gold_truth()
            start = time.perf_counter()
            accounts = [f"{reviewer.name}-{i}" for i in range(1, pool_size + 1)]
            n = sum(
                review_all(service, reviewer, account=a, pool=reviewer.name, truth=truth, seed=i)
                for i, a in enumerate(accounts)
            )
            took = time.perf_counter() - start
            print(
                f"\n{reviewer.name} pool ({pool_size} reviewers): {n} reviews ({len(truth)} "
                f"gold items each) in {took:.1f} s"
            )
            print(header)
            for s in service.calibration():
                print(
                    f"{s.reviewer:<12}{s.mode:<14}{s.n_gold:>5}{_f(s.accuracy):>10}"
                    f"{_f(s.false_approval):>12}{_f(s.approval_rate):>10}"
                    f"{_f(s.ai_correct_rate):>10}{_f(s.approval_gap):>8}"
                )
            for a, gaps in service.mode_gaps().items():
                print(
                    f"{a}: commit-first minus approval: accuracy {_f(gaps['accuracy'])}, "
                    f"approval rate {_f(gaps['approval_rate'])}, approval gap "
                    f"{_f(gaps['approval_gap'])}"
                )
            print(
                f"pool scale (raters:review-{reviewer.name}): "
                f"{_f(service.pool_scales()[reviewer.name])}"
            )
            before, after, moved = [], [], []
            for (run_id, target), scheming in sorted(truth_by_target.items()):
                if scheming is None:
                    continue
                ra = service.reviewed_assessment(run_id, target)
                b, a = ra.before.p_not_scheming, ra.after.p_not_scheming
                before.append((b, scheming))
                after.append((a, scheming))
                moved.append(abs(a - b))
                dropped = sum(1 for o in ra.items if o.overturned)
                print(
                    f"  {run_id}/{target} ({'scheming' if scheming else 'not scheming'}): "
                    f"{b:.3f} -> {a:.3f}, {dropped} AI answer(s) overturned"
                )
            fr = [sum(1 for p, s in x if s and p >= 0.95) for x in (before, after)]
            print(
                f"log loss {_log_loss(before):.3f} -> {_log_loss(after):.3f}; false "
                f"reassurances {fr[0]} -> {fr[1]}; mean |change| "
                f"{statistics.mean(moved) if moved else 0:.3f}"
            )


def _reviewer(
    base: str,
    name: str,
    password: str,
    n: int,
    out: list[float],
    errors: list[str],
    barrier: threading.Barrier,
) -> None:
    import httpx

    with httpx.Client(base_url=base, timeout=60) as client:
        login = client.post("/api/login", json={"name": name, "password": password})
        login.raise_for_status()
        csrf = login.json()["csrf"]
        barrier.wait()
        for i in range(n):
            nxt = client.get("/api/review/next").json()["item"]
            if nxt is None:
                errors.append(f"{name}: queue ran out after {i}")
                return
            body = {"verdict": bool(i % 2), "reason": "load test", "submission": f"{name}-{i}"}
            for _ in range(2 if i % 5 == 0 else 1):
                start = time.perf_counter()
                r = client.post(
                    f"/api/review/{nxt['id']}", json=body, headers={"X-CSRF-Token": csrf}
                )
                out.append(time.perf_counter() - start)
                if r.status_code != 200:
                    errors.append(f"{name}: {r.status_code} {r.text[:120]}")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(runs: Path, ledger: Path, accounts: Path) -> tuple[Any, str]:
    """``neurath serve`` in a process of its own (clients and server do not share a GIL)."""
    import subprocess

    import httpx

    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "neurath",
            "serve",
            "--runs",
            str(runs),
            "--ledger",
            str(ledger),
            "--accounts",
            str(accounts),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"neurath serve exited: {proc.stderr.read().decode()[-400:]}")
        try:
            httpx.get(base + "/login", timeout=1)
            return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("neurath serve did not start within 60 s")


def load(runs: Path, n_reviewers: int, n_reviews: int) -> None:
    from neurath.evidence import Ledger
    from neurath.web._accounts import AccountStore

    with tempfile.TemporaryDirectory() as tmp:
        accounts, ledger = Path(tmp) / "accounts.db", Path(tmp) / "reviews.db"
        store = AccountStore(accounts, create=True)
        names = [f"rev{i:02d}" for i in range(n_reviewers)]
        for name in [*names, "solo"]:
            store.add_user(name, f"{name}-password", role="reviewer", pool="load")
        latencies: list[float] = []
        errors: list[str] = []
        barrier = threading.Barrier(n_reviewers)
        proc, base = _serve(runs, ledger, accounts)
        try:
            alone: list[float] = []  # one reviewer, nobody else: the server's own latency
            _reviewer(base, "solo", "solo-password", n_reviews, alone, errors, threading.Barrier(1))
            threads = [
                threading.Thread(
                    target=_reviewer,
                    args=(base, n, f"{n}-password", n_reviews, latencies, errors, barrier),
                )
                for n in names
            ]
            start = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - start
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        with Ledger(ledger) as led:
            reviews = led.reviews()
            verified = led.verify().rows
    pairs = {(r.reviewer, r.item_id) for r in reviews}
    subs = {r.submission for r in reviews}
    lat = sorted(latencies)
    expected = n_reviewers * n_reviews + n_reviews  # and the lone reviewer's
    p99 = lat[min(len(lat) - 1, math.ceil(0.99 * len(lat)) - 1)]
    print(
        f"\n== load: {n_reviewers} reviewers x {n_reviews} reviews over HTTP, every fifth "
        "sent twice"
    )
    print(f"requests {len(lat)}; errors {len(errors)}{': ' + errors[0] if errors else ''}")
    print(
        f"reviews in the ledger {len(reviews)} (expected {expected}); distinct "
        f"(reviewer, item) {len(pairs)}; distinct submissions {len(subs)}; chain rows "
        f"{verified}"
    )
    print(
        f"one reviewer alone, first: median {statistics.median(alone) * 1000:.1f} ms a "
        "submission (the server's own cost)"
    )
    print(
        f"{n_reviewers} at once: latency of a submission: median "
        f"{statistics.median(lat) * 1000:.1f} ms, p99 "
        f"{p99 * 1000:.1f} ms; {len(lat) / wall:.0f} submissions/s over {wall:.1f} s "
        "(including logins and queue reads)"
    )
    ok = len(reviews) == expected == len(pairs) == len(subs) and not errors
    print("every review in the ledger exactly once:", "yes" if ok else "NO")
    if not ok:
        raise SystemExit(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=Path, help="a runs folder (default: the tiny study)")
    ap.add_argument("--organisms", type=Path, help="where the tiny suite is built")
    ap.add_argument("--gold", type=int, default=36, help="gold triggers mixed in")
    ap.add_argument("--pool", type=int, default=3, help="simulated reviewers per pool")
    ap.add_argument("--reviewers", type=int, default=50)
    ap.add_argument("--reviews", type=int, default=20)
    ap.add_argument("--skip-load", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = args.runs
        if runs is None:
            organisms = args.organisms or Path(tmp) / "organisms"
            runs = tiny_runs(Path(tmp), organisms)
        calibration(runs, args.gold, args.pool)
        if not args.skip_load:
            load(runs, args.reviewers, args.reviews)


if __name__ == "__main__":
    main()
