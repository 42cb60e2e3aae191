"""Cost of the organism testbed, measured side by side in one run.

Run: ``.venv/bin/python benchmarks/bench_organisms.py [--out DIR] [--n N] [--suite FILE]``

1. Build the default suite cold (into an empty folder) and warm (again, all cached).
2. Fidelity of every organism on held-out phrasings (what ``neurath organisms verify`` prints),
   with its 95 % interval and the build's checks on training phrasings (one per round).
   ``--suite benchmarks/reseeded_suite.yaml`` builds the same organisms from other seeds, to
   see how much fidelity depends on the initialisation.
3. Batched greedy generation of short answers from one organism: completions per second.
4. The same prompts through Inspect's eval loop with the ``organism`` provider: samples per
   second, and the ratio.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="build folder (default: a temp dir)")
    parser.add_argument("--n", type=int, default=2000, help="prompts for the generation benchmark")
    parser.add_argument("--inspect-n", type=int, default=200, help="samples through Inspect")
    parser.add_argument("--suite", type=Path, default=None, help="suite YAML (default: embedded)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="neurath-organisms-"))
    if out.exists() and any(out.iterdir()):
        shutil.rmtree(out)

    from neurath.models._local import MARKER
    from neurath.organisms._build import VERIFY_N, verify_organism
    from neurath.organisms._suite import default_suite, load_suite
    from neurath.testbed import build_suite

    suite = load_suite(args.suite) if args.suite else default_suite()
    t0 = time.perf_counter()
    build_suite(suite, out)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    build_suite(suite, out)
    warm = time.perf_counter() - t0
    print(
        f"[1] default suite ({len(suite.organisms)} organisms): cold build {cold:.1f} s, "
        f"warm {warm:.2f} s"
    )

    print(
        f"[2] fidelity on {VERIFY_N} held-out scenarios each [95% interval] "
        "(action / follow-up / capability); build checks on training phrasings:"
    )
    worst = 1.0
    for spec in suite.organisms:
        folder = out / "models" / spec.id
        f = verify_organism(folder, spec)
        worst = min(worst, f.overall)
        low, high = f.interval()
        kinds = " / ".join(f"{f.by_kind[k]:.1%}" for k in ("action", "followup", "capability"))
        checks = json.loads((folder / MARKER).read_text())["training_checks"]
        print(
            f"    {spec.id:14s} {spec.archetype:19s} {f.overall:6.1%} [{low:.1%}-{high:.1%}]"
            f"   ({kinds})   checks {' '.join(f'{c:.3f}' for c in checks)}"
        )
    print(f"    lowest: {worst:.1%}")

    from neurath.models import load_target
    from neurath.organisms._train import examples

    spec = suite.get("oversight-1")
    prompts = [
        p for _, (p, _) in examples(spec.archetype, spec.params, args.n, seed=7, split="test")
    ]
    target = load_target(out / "models" / spec.id)
    target.generate(prompts[:64])  # warm-up
    t0 = time.perf_counter()
    outs = target.generate(prompts)
    gen_s = time.perf_counter() - t0
    rate = len(prompts) / gen_s
    print(
        f"[3] batched generation, {len(prompts)} prompts: {gen_s:.2f} s = {rate:,.0f} "
        f"completions/s (mean {sum(len(o.split()) for o in outs) / len(outs):.1f} words)"
    )

    from _inspect_loop import inspect_samples_per_second

    sub = prompts[: args.inspect_n]
    insp_rate = inspect_samples_per_second(out, spec.id, sub)
    insp_s = len(sub) / insp_rate
    print(
        f"[4] Inspect eval loop, {len(sub)} samples: {insp_s:.2f} s = {insp_rate:,.1f} samples/s;"
        f" batched generation is {rate / insp_rate:,.0f}x faster"
    )


if __name__ == "__main__":
    main()
