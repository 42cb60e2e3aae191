"""``neurath assess`` end to end on a million findings: the per-finding path against the bulk one.

Run: ``.venv/bin/python benchmarks/bench_assess_bulk.py`` (``--quick`` for a tenth of the size,
``--json FILE`` to keep the figures, ``--keep DIR`` to write the files there and keep them,
``--repeats N`` to run each case N times and keep the fastest, on a machine others share).

Writes a manifest (a JSON header of 10^4 factors) whose findings file holds 10^6 findings with
5 factors each, as JSON Lines and as Parquet, then runs each case in a fresh process, measuring
its wall time and peak resident memory (``os.wait4``):

(a) the path before the bulk loader: ``load_manifest`` (every finding validated as a pydantic
    model; its size limits raised so that the file is read at all), then ``assess`` with every
    leave-one-out contribution, the result printed as JSON. ``--baseline-src DIR`` runs it
    from another source tree (e.g. the last commit's ``src``, ``git archive HEAD src``);
(b) ``neurath assess m.json --draws 0 --json`` from JSON Lines: bulk loading, the top 12
    contributions;
(c) the same from Parquet;
(d) the JSON Lines file with one bad line in the middle: a one-line error and exit code 2.

The three results must agree (P, LLR, and the top contributions to 1e-9).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_OLD_PATH = """
import functools, json, sys
import neurath.evidence._load as load
from neurath._files import iter_jsonl
# The per-finding loader as it is, with its size limits (64 MiB, 10^6 lines) raised.
load.iter_jsonl = functools.partial(iter_jsonl, max_bytes=1 << 31, max_lines=10**7)
from neurath import assess, load_manifest
manifest = load_manifest(sys.argv[1])
print(json.dumps(assess(manifest, draws=0).model_dump(mode="json")))
"""


def write_inputs(folder: Path, n: int, k: int, s: int) -> dict[str, float]:
    """The manifests and findings files; returns the files' sizes in MiB."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from neurath.engine import random_evidence

    rng = np.random.default_rng(0)
    ev = random_evidence(n, k, s, rng)
    se = np.sqrt(ev.variance)
    value = ev.value + rng.normal(0.0, 1.0, n) * se
    cols, loads = ev.load_cols.reshape(n, s), ev.loading.reshape(n, s)
    names = [f"k{j}" for j in range(k)]
    # The header as JSON, as a program writing 10^6 findings would write it (a YAML header of
    # 10^4 factors adds a few seconds to either path: PyYAML's safe loader is pure Python).
    header = {
        "version": 1,
        "target": "bulk",
        "common_cause": 0.01,
        "factors": [{"id": names[j], "kind": "method", "sd": float(ev.sd_lo[j])} for j in range(k)],
    }
    for name, rows in (("m", "findings.jsonl"), ("mp", "findings.parquet"), ("bad", "bad.jsonl")):
        (folder / f"{name}.json").write_text(json.dumps({**header, "findings_file": rows}))
    _write_lines(folder, ev, value, se, names, cols, loads)
    offsets = np.arange(0, n * s + 1, s, dtype=np.int32)
    table = pa.table(
        {
            "id": [f"f{i}" for i in range(n)],
            "experiment": pa.array(["probe"] * n),
            "value": value,
            "se": se,
            "expected": pa.StructArray.from_arrays(
                [ev.mu_not_scheming, ev.mu_scheming], names=["not_scheming", "scheming"]
            ),
            "factors": pa.MapArray.from_arrays(
                offsets, pa.array([names[j] for j in cols.ravel()]), ev.loading
            ),
        }
    )
    pq.write_table(table, folder / "findings.parquet")
    return {
        name: (folder / name).stat().st_size / 2**20
        for name in ("findings.jsonl", "findings.parquet")
    }


def _write_lines(
    folder: Path, ev: Any, value: Any, se: Any, names: list[str], cols: Any, loads: Any
) -> None:
    """findings.jsonl, and bad.jsonl: the same with ``se: -1`` on the middle line."""
    import orjson

    n = len(value)
    with (folder / "findings.jsonl").open("wb") as out, (folder / "bad.jsonl").open("wb") as bad:
        for start in range(0, n, 100_000):
            lines = []
            for i in range(start, min(n, start + 100_000)):
                row = {
                    "id": f"f{i}",
                    "experiment": "probe",
                    "value": float(value[i]),
                    "se": float(se[i]),
                    "expected": {
                        "not_scheming": float(ev.mu_not_scheming[i]),
                        "scheming": float(ev.mu_scheming[i]),
                    },
                    "factors": dict(
                        zip((names[j] for j in cols[i]), loads[i].tolist(), strict=True)
                    ),
                }
                lines.append(orjson.dumps(row))
                if i == n // 2:
                    row["se"] = -1.0
                bad.write(orjson.dumps(row) + b"\n")
            out.write(b"\n".join(lines) + b"\n")


def run(command: list[str], out: Path) -> dict[str, Any]:
    """Wall time, peak RSS, exit code and stderr of ``command`` in a fresh process."""
    with out.open("wb") as stdout:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,  # all threads: steadier on a busy machine
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "exit_code": proc.returncode,
        "stderr": err.strip(),
    }


def _baseline(src: Path | None) -> list[str]:
    """The interpreter for case (a), with ``src`` first on its path if given."""
    if src is None:
        return [sys.executable]
    return ["env", f"PYTHONPATH={src.resolve()}", sys.executable]


def agree(old: dict[str, Any], new: dict[str, Any]) -> float:
    """Largest relative difference in P, LLR and the new result's contributions."""
    worst = 0.0
    for key in ("p_not_scheming", "llr", "log_lr", "llr_naive", "n_eff"):
        worst = max(worst, abs(new[key] - old[key]) / max(abs(old[key]), 1e-300))
    for group in ("contributions", "factor_contributions"):
        assert list(new[group]) == list(old[group])[: len(new[group])], group
        for fid, value in new[group].items():
            worst = max(worst, abs(value - old[group][fid]) / max(abs(old[group][fid]), 1e-300))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10^5 findings, 10^3 factors")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--keep", type=Path, help="write the inputs here and keep them")
    parser.add_argument("--baseline-src", type=Path, help="run case (a) from this source tree")
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs of each case; the fastest counts"
    )
    args = parser.parse_args()
    n, k = (100_000, 1_000) if args.quick else (1_000_000, 10_000)
    report: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "findings": n,
        "factors": k,
    }
    print(f"machine: {report['machine']}; {n:,} findings, {k:,} factors, 5 per finding")
    print(f"load average at the start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    report["load_average"] = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        # In a process of its own: a child's peak RSS starts from its parent's at the fork.
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            report["file_mib"] = pool.apply(write_inputs, (folder, n, k, 5))
        sizes = ", ".join(f"{name} {mib:,.0f} MiB" for name, mib in report["file_mib"].items())
        print(f"inputs written in {time.perf_counter() - start:.1f} s: {sizes}")
        cli = [sys.executable, "-m", "neurath", "assess", "--draws", "0", "--json"]
        cases = {
            "old: per-finding models, all contributions": [
                *_baseline(args.baseline_src),
                "-c",
                _OLD_PATH,
                str(folder / "m.json"),
            ],
            "new: neurath assess, JSON Lines, top 12": [*cli, str(folder / "m.json")],
            "new: neurath assess, Parquet, top 12": [*cli, str(folder / "mp.json")],
            "new: bad line in the middle (JSON Lines)": [*cli, str(folder / "bad.json")],
        }
        rows = {
            name: _best_of(command, folder / f"out{i}.json", args.repeats)
            for i, (name, command) in enumerate(cases.items())
        }
        _print(rows, args.repeats)
        print(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        report["cases"] = {
            name: {key: v for key, v in row.items() if key != "result"}
            for name, row in rows.items()
        }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


def _best_of(command: list[str], out: Path, repeats: int) -> dict[str, Any]:
    """The fastest of ``repeats`` runs (a busy machine only ever adds time), with the largest
    peak RSS of any, every run's wall time, and the parsed output."""
    runs = [run(command, out) for _ in range(repeats)]
    best = min(runs, key=lambda r: r["seconds"])
    best["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
    best["all_seconds"] = [r["seconds"] for r in runs]
    if best["exit_code"] == 0:
        best["result"] = json.loads(out.read_text())
    return best


def _print(rows: dict[str, dict[str, Any]], repeats: int) -> None:
    names = list(rows)
    base = rows[names[0]]
    best = f"fastest of {repeats}, " if repeats > 1 else ""
    print(
        f"\n{'case (' + best + 'peak RSS the largest)':46s} {'wall s':>8s} {'CPU s':>7s} "
        f"{'peak MiB':>9s} {'time ratio':>11s} {'RSS ratio':>10s}"
    )
    for name, row in rows.items():
        speed = base["seconds"] / row["seconds"]
        memory = base["peak_rss_mib"] / row["peak_rss_mib"]
        print(
            f"{name:46s} {row['seconds']:8.2f} {row['cpu_seconds']:7.1f} "
            f"{row['peak_rss_mib']:9,.0f} "
            f"{speed:10.1f}x {memory:9.1f}x"
        )
        if len(row["all_seconds"]) > 1:
            print(f"{'':46s} (every run: {', '.join(f'{x:.1f}' for x in row['all_seconds'])} s)")
    for name in names[1:3]:
        if "result" in rows[name] and "result" in base:
            row = rows[name]
            row["max_rel_diff"] = agree(base["result"], row["result"])
            print(f"{name}: agrees with the old path to {row['max_rel_diff']:.1e} (relative)")
    bad = rows[names[3]]
    print(f"bad line: exit code {bad['exit_code']}, stderr: {bad['stderr'][:200]}")


if __name__ == "__main__":
    main()
