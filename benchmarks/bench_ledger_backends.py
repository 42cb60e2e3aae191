"""The ledger on SQLite and on PostgreSQL, side by side in one run.

Run: ``.venv/bin/python benchmarks/bench_ledger_backends.py [--writers 16] [--each 200]``.

Starts a throwaway PostgreSQL server (tests/_postgres_server.py; Debian's ``postgresql``
package must be installed: ``scripts/ensure-postgresql``), then for each backend measures:

1. one writer appending findings one transaction each (appends per second);
2. ``--writers`` processes appending ``--each`` findings each into one new ledger, all started
   together (wall time from the start signal to the last exit, appends per second), and that
   every finding is there exactly once and the chain verifies;
3. ``verify`` of the resulting ledger.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.test_ledger_integrity import _finding

from neurath import Ledger


def _writer(url: str, who: str, count: int, start: mp.synchronize.Event) -> None:
    start.wait()
    with Ledger(url, author=who) as ledger:
        for i in range(count):
            ledger.append_finding(_finding(f"{who}-{i}"), target="m", audit_entry=f"{who}/{i}")


def _one_writer(url: str, count: int) -> float:
    with Ledger(url) as ledger:
        t0 = time.perf_counter()
        for i in range(count):
            ledger.append_finding(_finding(f"solo-{i}"), target="solo")
        return count / (time.perf_counter() - t0)


def _many_writers(url: str, writers: int, each: int) -> tuple[float, float]:
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    names = [f"w{i:02d}" for i in range(writers)]
    procs = [ctx.Process(target=_writer, args=(url, n, each, start)) for n in names]
    for p in procs:
        p.start()
    time.sleep(2.0)  # let every process import neurath before the clock starts
    t0 = time.perf_counter()
    start.set()
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise SystemExit(f"a writer failed (exit {p.exitcode})")
    seconds = time.perf_counter() - t0
    with Ledger(url) as ledger:
        ids = [r.finding.id for r in ledger.findings(target="m")]
        t1 = time.perf_counter()
        report = ledger.verify()
        verify_s = time.perf_counter() - t1
    expected = {f"{n}-{i}" for n in names for i in range(each)}
    if len(ids) != len(expected) or set(ids) != expected:
        raise SystemExit(f"lost or duplicated findings: {len(ids)} of {len(expected)}")
    if report.rows < len(expected):
        raise SystemExit("the chain does not cover every row")
    return seconds, verify_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--each", type=int, default=200)
    parser.add_argument("--solo", type=int, default=1000)
    args = parser.parse_args()
    from tests._postgres_server import fresh_database, postgres_server

    total = args.writers * args.each
    with postgres_server() as server, tempfile.TemporaryDirectory() as tmp:
        urls = {
            "SQLite (WAL file)": (str(Path(tmp) / "solo.db"), str(Path(tmp) / "many.db")),
            "PostgreSQL 15 (loopback)": (fresh_database(server), fresh_database(server)),
        }
        print(f"{args.writers} writers x {args.each} findings = {total}; solo {args.solo}")
        print("| backend | one writer, appends/s | many writers, wall | appends/s | verify |")
        print("|---|---|---|---|---|")
        for name, (solo, many) in urls.items():
            rate = _one_writer(solo, args.solo)
            seconds, verify_s = _many_writers(many, args.writers, args.each)
            print(
                f"| {name} | {rate:,.0f} | {seconds:.1f} s | {total / seconds:,.0f} | "
                f"{verify_s:.2f} s |"
            )


if __name__ == "__main__":
    main()
