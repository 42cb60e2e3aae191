"""Speed and memory of the assessment engine, measured side by side in one run.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/bench_engine.py [--quick]``).

1. Scale: 10^6 findings, 10^4 factors, 5 factors per finding, the point estimate (no Monte
   Carlo, no contributions) and the same with every finding's and factor's exact leave-one-out
   contribution. Each case runs in a fresh process so its peak resident memory is its own.
2. Against dense linear algebra at n = 5,000 (k = 50, s = 5): the engine, scipy's
   ``multivariate_normal`` (frozen once, two log-densities) and a dense Cholesky solve.
3. From a file: a manifest whose 10^5 findings sit in a JSON Lines file, loaded and assessed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _scale_case(n: int, k: int, s: int, contributions: bool, queue: mp.Queue) -> None:
    from neurath.engine import assess_arrays, random_evidence

    ev = random_evidence(n, k, s, np.random.default_rng(0))
    rss_inputs = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    result = assess_arrays(ev, target="bench", prior=0.5, contributions=contributions)
    seconds = time.perf_counter() - t0
    queue.put(
        {
            "seconds": seconds,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_after_inputs_mib": rss_inputs / 1024,
            "p": result.p_not_scheming,
            "n_contributions": len(result.contributions),
        }
    )


def _in_fresh_process(*args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_scale_case, args=(*args, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def bench_scale(n: int, k: int, s: int, repeats: int) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for label, contributions in (("point", False), ("contributions", True)):
        runs = [_in_fresh_process(n, k, s, contributions) for _ in range(repeats)]
        times = [r["seconds"] for r in runs]
        rows[label] = {
            "median_s": statistics.median(times),
            "min_s": min(times),
            "max_s": max(times),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
            "rss_after_inputs_mib": runs[0]["rss_after_inputs_mib"],
        }
    return rows


def bench_dense(n: int, k: int, s: int, repeats: int) -> dict[str, Any]:
    import scipy.linalg as sla
    from scipy.stats import multivariate_normal

    from neurath.engine import assess_arrays, random_evidence

    rng = np.random.default_rng(1)
    ev = random_evidence(n, k, s, rng)
    ev = type(ev)(**{**ev.__dict__, "value": ev.value + rng.normal(0, 1, n) * np.sqrt(ev.variance)})

    def engine() -> float:
        return assess_arrays(ev, target="b", prior=0.5, contributions=False).llr

    def dense_sigma() -> np.ndarray:
        b = np.zeros((n, k))
        np.add.at(
            b,
            (ev.load_rows, ev.load_cols),
            ev.loading * ev.sd_point[ev.load_cols] * np.abs(ev.delta)[ev.load_rows],
        )
        return np.diag(ev.variance) + b @ b.T

    def scipy_mvn() -> float:
        frozen = multivariate_normal(np.zeros(n), dense_sigma())
        return float(
            frozen.logpdf(ev.value - ev.mu_not_scheming) - frozen.logpdf(ev.value - ev.mu_scheming)
        )

    def dense_cholesky() -> float:
        factor = sla.cho_factor(dense_sigma(), lower=True)
        return float(ev.delta @ sla.cho_solve(factor, ev.residual))

    out: dict[str, Any] = {}
    values = {}
    for name, fn in (
        ("engine", engine),
        ("scipy_multivariate_normal", scipy_mvn),
        ("dense_cholesky", dense_cholesky),
    ):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            values[name] = fn()
            times.append(time.perf_counter() - t0)
        out[name] = {"median_s": statistics.median(times), "min_s": min(times)}
    base = out["engine"]["median_s"]
    for name in ("scipy_multivariate_normal", "dense_cholesky"):
        out[name]["ratio_to_engine"] = out[name]["median_s"] / base
        out[name]["llr_rel_diff"] = abs(values[name] - values["engine"]) / abs(values["engine"])
    return out


def bench_file(n: int) -> dict[str, Any]:
    from neurath import assess, load_manifest

    rng = np.random.default_rng(2)
    k = 100
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        factors = "\n".join(f"  - {{id: f{j}, kind: method, sd: 0.3}}" for j in range(k))
        (folder / "m.yaml").write_text(
            f"version: 1\ntarget: big\ncommon_cause: 0.01\nfactors:\n{factors}\n"
            "findings_file: findings.jsonl\n"
        )
        with (folder / "findings.jsonl").open("w") as fh:
            for i in range(n):
                loads = {f"f{j}": 1.0 for j in rng.choice(k, 3, replace=False)}
                fh.write(
                    json.dumps(
                        {
                            "id": f"x{i}",
                            "experiment": "probe",
                            "value": float(rng.normal(0.1, 0.05)),
                            "se": 0.05,
                            "expected": {"not_scheming": 0.1, "scheming": 0.4},
                            "factors": loads,
                        }
                    )
                    + "\n"
                )
        t0 = time.perf_counter()
        manifest = load_manifest(folder / "m.yaml")
        t_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        assess(manifest)
        t_assess = time.perf_counter() - t0
    return {"findings": n, "load_s": t_load, "assess_s": t_assess}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one repeat")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    n, k = (100_000, 1_000) if args.quick else (1_000_000, 10_000)
    repeats = 1 if args.quick else 3
    report: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, "
        f"{mp.cpu_count()} cores, Python {platform.python_version()}"
    }
    print(f"machine: {report['machine']}")

    print(f"\n[1] scale: n={n:,} findings, k={k:,} factors, 5 per finding, {repeats} runs each")
    report["scale"] = bench_scale(n, k, 5, repeats)
    for label, row in report["scale"].items():
        print(
            f"  {label:13s} median {row['median_s']:.2f} s (min {row['min_s']:.2f}, max "
            f"{row['max_s']:.2f})  peak RSS {row['peak_rss_mib']:.0f} MiB "
            f"(inputs alone {row['rss_after_inputs_mib']:.0f} MiB)"
        )

    dense_n = 1_000 if args.quick else 5_000
    print(f"\n[2] against dense linear algebra: n={dense_n:,}, k=50, 5 per finding")
    report["dense"] = bench_dense(dense_n, 50, 5, repeats)
    for name, row in report["dense"].items():
        extra = ""
        if "ratio_to_engine" in row:
            extra = (
                f"  = {row['ratio_to_engine']:.0f}x the engine  "
                f"(LLR rel. diff {row['llr_rel_diff']:.1e})"
            )
        print(f"  {name:26s} median {row['median_s'] * 1000:9.1f} ms{extra}")

    file_n = 10_000 if args.quick else 100_000
    print(f"\n[3] from a manifest with a {file_n:,}-finding JSON Lines file (k=100, 3 per finding)")
    report["file"] = bench_file(file_n)
    print(f"  load {report['file']['load_s']:.2f} s, assess {report['file']['assess_s']:.2f} s")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
