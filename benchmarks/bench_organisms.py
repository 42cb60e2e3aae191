"""Cost of the organism testbed, measured side by side in one run.

Run: ``.venv/bin/python benchmarks/bench_organisms.py [--out DIR] [--n N] [--suite FILE]``

``--tier full`` uses the calibration benchmark's population (150 organisms) instead of the
default suite (``--redraw SEED``: the draw ``neurath bench --redraw SEED`` uses); ``--reuse``
measures an already built ``--out`` folder (no build, nothing deleted; it refuses a folder
that lacks any organism of the draw) and runs parts 2 and 3 only, e.g. on the store ``neurath
bench`` built: ``--tier full --reuse --out STORE --skip 3`` gives the population's fidelity.

1. Build the suite cold (into an empty folder) and warm (again, all cached): wall time, the
   CPU time of every process, and the machine's load (other work slows a cold build).
2. Fidelity of every organism on held-out phrasings (what ``neurath organisms verify`` prints),
   with its 95 % interval and the build's checks on training phrasings (one per round); the
   lowest, and which organism. ``--suite benchmarks/reseeded_suite.yaml`` builds the default
   organisms from other seeds, to see how much fidelity depends on the initialisation.
3. Training cost per step, side by side on one base model: transformers' forward
   (``models._transformers.train``) against the batched trainer
   (``organisms._fit.train_stack``) with K = 1, 2, 4, 8 models per pass; then the batched
   trainer on the same examples read one token per word and with phrase tokens.
4. Batched greedy generation of short answers from one organism: completions per second.
5. The same prompts through Inspect's eval loop with the ``organism`` provider: samples per
   second, and the ratio.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the build's workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _verify(folder: Path, spec: Any) -> Any:
    from neurath.organisms._fidelity import verify_organism

    return verify_organism(folder, spec)


def fidelity(suite: Any, store: Any, jobs: int) -> None:
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from neurath.organisms._fidelity import VERIFY_N

    print(
        f"[2] fidelity on {VERIFY_N} held-out scenarios each [95% interval] "
        "(action / follow-up / capability); build checks on training phrasings:"
    )
    folders = [store.model_dir(spec.id) for spec in suite.organisms]
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=_one_thread) as p:
        results = list(p.map(_verify, folders, suite.organisms))
    cards = store.unseal([spec.id for spec in suite.organisms])
    for spec, f in zip(suite.organisms, results, strict=True):
        low, high = f.interval()
        kinds = " / ".join(
            f"{f.by_kind[k]:.1%}" for k in ("action", "followup", "capability") if k in f.by_kind
        )
        checks = cards[spec.id].training_checks
        print(
            f"    {spec.id:16s} {spec.archetype:19s} {spec.lineage:8s} {spec.cue_bank:3s} "
            f"{f.overall:6.1%} [{low:.1%}-{high:.1%}]   ({kinds})   "
            f"checks {' '.join(f'{c:.3f}' for c in checks)}"
        )
    worst = min(zip(results, suite.organisms, strict=True), key=lambda r: r[0].overall)
    low, high = worst[0].interval()
    passing = sum(f.overall >= 0.95 for f in results)
    rounds = [len(card.training_checks) - 1 for card in cards.values()]
    print(
        f"    lowest: {worst[0].overall:.1%} [{low:.1%}-{high:.1%}] ({worst[1].id}, "
        f"{worst[1].archetype}); {passing} of {len(results)} at >= 95 %; "
        f"{sum(r > 0 for r in rounds)} needed extra rounds ({sum(rounds)} rounds in all)"
    )


def step_costs(suite: Any, store: Any, steps: int = 20) -> None:
    """CPU ms per training step of one model: transformers' forward, then K models at once."""
    import copy

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from neurath.models._transformers import train
    from neurath.organisms import _batched as B
    from neurath.organisms._fit import train_stack
    from neurath.organisms._train import examples

    torch.set_num_threads(1)
    spec = suite.organisms[0]
    lineage = spec.lineage
    base_dir = store.lineage_dir(lineage)
    base = AutoModelForCausalLM.from_pretrained(base_dir, attn_implementation="eager")
    tok = AutoTokenizer.from_pretrained(base_dir)
    data = [ex for _, ex in examples("oversight_schemer", spec.params, 3000, seed=1)]
    enc = B.encode_all(tok, data)

    def single() -> float:
        model = copy.deepcopy(base)
        train(model, tok, data, steps=3, lr=1e-3, batch_size=32, seed=0)
        t0 = time.process_time()
        train(model, tok, data, steps=steps, lr=1e-3, batch_size=32, seed=0)
        return (time.process_time() - t0) / steps

    def batched(k: int) -> float:
        s = B.stack([base] * k)
        train_stack(s, [enc] * k, steps=3, lr=1e-3, batch_size=32, seeds=list(range(k)))
        t0 = time.process_time()
        train_stack(s, [enc] * k, steps=steps, lr=1e-3, batch_size=32, seeds=list(range(k)))
        return (time.process_time() - t0) / steps / k

    cfg = base.config
    print(
        f"[3] training cost per model-step, batch 32, one thread (lineage {lineage}: n_embd "
        f"{cfg.n_embd}, {cfg.n_layer} layers, {cfg.n_head} heads; CPU ms, load {_load()}):"
    )
    # Interleaved, so a change in the machine's load hits both sides alike.
    hf = [single() for _ in range(2)]
    ours = {k: [batched(k) for _ in range(2)] for k in (1, 2, 4, 8)}
    hf.append(single())
    ref = min(hf)
    print(f"    transformers forward (train): {ref * 1000:.1f} ms")
    for k, times in ours.items():
        best = min(times)
        print(f"    batched trainer, K={k}: {best * 1000:.1f} ms per model ({ref / best:.2f}x)")
    phrase_costs(cfg, spec, steps)


def phrase_costs(cfg: Any, spec: Any, steps: int, k: int = 4) -> None:
    """The batched trainer (K = 4) on the same examples read one token per word and with phrase
    tokens (``TrainConfig.phrase_tokens``), each on a fresh model of the lineage's shape."""
    import torch

    from neurath.models._transformers import new_model
    from neurath.organisms import _batched as B
    from neurath.organisms._fit import train_stack
    from neurath.organisms._tokenizer import build_tokenizer
    from neurath.organisms._train import examples

    torch.set_num_threads(1)
    data = [ex for _, ex in examples("eval_aware_schemer", spec.params, 3000, seed=1)]
    shape = {"n_embd": cfg.n_embd, "n_layer": cfg.n_layer, "n_head": cfg.n_head}
    runs: dict[bool, Any] = {}
    for phrases in (False, True):
        tok = build_tokenizer(phrases)
        model = new_model(tok, n_positions=128, seed=0, **shape)
        runs[phrases] = (B.stack([model] * k), [B.encode_all(tok, data)] * k)

    def timed(phrases: bool) -> float:
        s, enc = runs[phrases]
        t0 = time.process_time()
        train_stack(s, enc, steps=steps, lr=1e-3, batch_size=32, seeds=list(range(k)))
        return (time.process_time() - t0) / steps / k

    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(3):  # interleaved; the first pair also warms up
        for phrases in (False, True):
            times[phrases].append(timed(phrases))
    words, phrased = (min(times[p][1:]) for p in (False, True))
    tokens = {p: sum(len(e.ids) for e in runs[p][1][0]) / len(data) for p in (False, True)}
    print(
        f"    eval_aware_schemer examples, K={k}: one token per word {tokens[False]:.1f} tokens "
        f"per example, {words * 1000:.1f} ms per model-step; phrase tokens {tokens[True]:.1f}, "
        f"{phrased * 1000:.1f} ms ({words / phrased:.2f}x)"
    )


def _unbuilt_ids(suite: Any, store: Any) -> list[str]:
    """Ids of the organisms of ``suite`` that ``store`` does not hold built."""
    from neurath.organisms._build import organism_hash
    from neurath.testbed._build import _unbuilt

    hashes = {spec.id: organism_hash(spec, suite) for spec in suite.organisms}
    return [spec.id for spec in _unbuilt(suite, store, hashes)[0]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="build folder (default: a temp dir)")
    parser.add_argument("--n", type=int, default=2000, help="prompts for the generation benchmark")
    parser.add_argument("--inspect-n", type=int, default=200, help="samples through Inspect")
    parser.add_argument("--suite", type=Path, default=None, help="suite YAML (default: embedded)")
    parser.add_argument("--jobs", type=int, default=None, help="build processes (default: 2)")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: 2,3,4,5")
    parser.add_argument("--tier", choices=["full", "fast"], default=None, help="bench population")
    parser.add_argument("--redraw", type=int, default=0, help="the tier's draw (as neurath bench)")
    parser.add_argument("--reuse", action="store_true", help="--out is built: measure it as is")
    args = parser.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if args.reuse and args.out is None:
        parser.error("--reuse needs --out (the built folder)")
    out = args.out or Path(tempfile.mkdtemp(prefix="neurath-organisms-"))
    if out.exists() and any(out.iterdir()) and not args.reuse:
        shutil.rmtree(out)

    from neurath.organisms._suite import default_suite, load_suite
    from neurath.testbed import OrganismStore, build_suite
    from neurath.testbed._population import tier

    if args.tier:
        suite = tier(args.tier, args.redraw)[0]
    elif args.redraw:
        parser.error("--redraw needs --tier")
    else:
        suite = load_suite(args.suite) if args.suite else default_suite()
    store = OrganismStore(out)
    if args.reuse:
        # Measure what is there: a folder built for another draw would otherwise be rebuilt
        # in place (about 20 minutes for the full tier), replacing the organisms it held.
        missing = _unbuilt_ids(suite, store)
        if missing:
            parser.error(
                f"--reuse: {len(missing)} of {len(suite.organisms)} organisms of "
                f"{suite.name!r} are not built in {out} (e.g. {missing[0]}); build them first "
                "or name the draw the folder holds (--tier/--redraw)"
            )
        build_suite(suite, store, jobs=args.jobs)  # warm: writes the group list
        if "2" not in skip:
            fidelity(suite, store, args.jobs or 2)
        if "3" not in skip:
            step_costs(suite, store)
        return
    load_before, cpu0 = _load(), _cpu()
    t0 = time.perf_counter()
    build_suite(suite, store, jobs=args.jobs)
    cold, cpu = time.perf_counter() - t0, _cpu() - cpu0
    load_after = _load()
    t0 = time.perf_counter()
    build_suite(suite, store, jobs=args.jobs)
    warm = time.perf_counter() - t0
    lineages = {s.lineage for s in suite.organisms}
    print(
        f"[1] suite {suite.name!r} ({len(suite.organisms)} organisms, {len(lineages)} "
        f"lineages): cold build {cold:.1f} s ({cpu:.0f} CPU s; load average {load_before} "
        f"before, {load_after} after), warm {warm:.2f} s",
        flush=True,
    )
    if "2" not in skip:
        fidelity(suite, store, args.jobs or 2)
    if "3" not in skip:
        step_costs(suite, store)
    if {"4", "5"} <= skip:
        return
    generation(suite, store, args)


def generation(suite: Any, store: Any, args: Any) -> None:
    from neurath.models import load_target
    from neurath.organisms._train import examples

    schemers = [s for s in suite.organisms if s.archetype == "oversight_schemer"]
    spec = next((s for s in schemers if s.id == "oversight-1"), (schemers or suite.organisms)[0])
    prompts = [
        p for _, (p, _) in examples(spec.archetype, spec.params, args.n, seed=7, split="test")
    ]
    target = load_target(store.model_dir(spec.id))
    target.generate(prompts[:64])  # warm-up
    t0 = time.perf_counter()
    outs = target.generate(prompts)
    gen_s = time.perf_counter() - t0
    rate = len(prompts) / gen_s
    print(
        f"[4] batched generation, {len(prompts)} prompts: {gen_s:.2f} s = {rate:,.0f} "
        f"completions/s (mean {sum(len(o.split()) for o in outs) / len(outs):.1f} words)"
    )
    if "5" in {s.strip() for s in args.skip.split(",")}:
        return
    from _inspect_loop import inspect_samples_per_second

    sub = prompts[: args.inspect_n]
    insp_rate = inspect_samples_per_second(store.root, spec.id, sub)
    insp_s = len(sub) / insp_rate
    print(
        f"[5] Inspect eval loop, {len(sub)} samples: {insp_s:.2f} s = {insp_rate:,.1f} samples/s;"
        f" batched generation is {rate / insp_rate:,.0f}x faster"
    )


if __name__ == "__main__":
    main()
