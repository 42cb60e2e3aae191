"""Ledger write and read-and-verify speed: N findings appended one transaction each.

Run it against two trees side by side to compare (BENCHMARKS.md gives the commands):

    PYTHONPATH=<old tree>/src python benchmarks/bench_ledger.py 2000 old
    python benchmarks/bench_ledger.py 2000 new
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from neurath.evidence import Expected, Finding, Ledger


def main(n: int, label: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        start = time.perf_counter()
        with Ledger(Path(d) / "l.db", author="bench") as led:
            for i in range(n):
                f = Finding(
                    id=f"f{i}",
                    experiment="honeypot",
                    claim="c",
                    value=0.1,
                    se=0.05,
                    expected=Expected(not_scheming=0.1, scheming=0.5),
                )
                led.append_finding(f, target="t", source="bench", audit_entry=f"{i:064d}")
        write = time.perf_counter() - start
        start = time.perf_counter()
        with Ledger(Path(d) / "l.db", create=False) as led:
            led.findings()
            verify = getattr(led, "verify", None)  # absent before the row chain
            verified = verify() if verify else None
        read = time.perf_counter() - start
    what = "read + verify" if verified else "read"
    print(
        f"{label}: {n} findings written in {write:.2f} s ({n / write:.0f}/s); {what} {read:.2f} s"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000, sys.argv[2] if len(sys.argv) > 2 else "")
