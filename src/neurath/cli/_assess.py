"""``neurath assess FILE``: the overall safety assessment of one manifest."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, NamedTuple

import click
import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from neurath.cli._main import cli, echo, progress_bar, stdout_console
from neurath.engine import ManifestArrays, load_manifest_arrays
from neurath.engine import assess as run_assessment
from neurath.engine._engine import DEFAULT_DRAWS
from neurath.evidence import Assessment, Ledger, Manifest, load_manifest
from neurath.evidence._model_v2 import ManifestV2

_ROWS_SHOWN = 12


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option("--db", type=str, default=None, help="Also store manifest and result in this ledger.")
@click.option(
    "--draws",
    type=click.IntRange(0, 1_000_000),
    default=DEFAULT_DRAWS,
    show_default=True,
    help="Monte Carlo draws over ranged inputs, for the interval (0: the point estimate only).",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**32 - 1),
    default=0,
    show_default=True,
    help="Seed of the Monte Carlo.",
)
@click.option(
    "--contributions",
    "mode",
    type=click.Choice(["top", "all", "none"]),
    default="top",
    show_default=True,
    help="Leave-one-out contributions to compute: the largest --top of findings and of "
    "factors (exact, found by bounds), every one (costs an inversion of the factor matrix), "
    "or none.",
)
@click.option(
    "--top",
    type=click.IntRange(1, None),
    default=_ROWS_SHOWN,
    show_default=True,
    help="How many contributions --contributions top computes and reports.",
)
def assess(
    file: str, as_json: bool, db: str | None, draws: int, seed: int, mode: str, top: int
) -> None:
    """Assess the evidence in manifest FILE: P(not scheming), correlated and naive.

    The findings file a manifest names (findings_file) may be JSON Lines, one finding per
    line, or Parquet (a .parquet file, one row per finding; its columns are the finding's
    fields: id, experiment, value, se, expected {not_scheming, scheming}, factors, and the
    optional claim, extra_sd, status and params; see neurath.evidence._bulk_parquet). Either
    is read in bulk, in columns, up to 2 GiB and 10^7 findings; with --db every finding is
    kept as a record, so the per-finding limits apply (64 MiB, 10^6 findings).
    """
    # The ledger stores each finding, so it needs them as models; otherwise read in bulk.
    manifest = load_manifest(file) if db is not None else load_manifest_arrays(file)
    result = _assess_with_progress(manifest, draws, seed, mode, top)
    stored = None
    if db is not None and not isinstance(manifest, ManifestArrays):
        with Ledger(db) as ledger:
            _, stored = ledger.record(manifest, result, source=file)
    if as_json:
        echo(json.dumps(_json_view(result, stored, db, mode, top)))
    else:
        _print_tables(manifest, result)
        if stored is not None:
            echo(f"stored as assessment {stored} in {db}")


def _assess_with_progress(
    manifest: Manifest | ManifestV2 | ManifestArrays, draws: int, seed: int, mode: str, top: int
) -> Assessment:
    """The assessment, with a progress bar on stderr for the Monte Carlo when it is a terminal."""
    with progress_bar(eta=True) as bar:
        task = bar.add_task("Monte Carlo over ranged factor scales", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return run_assessment(
            manifest,
            draws=draws,
            seed=seed,
            progress=advance,
            top=top if mode == "top" else None,
            contributions=mode != "none",
        )


def _json_view(
    result: Assessment, stored: int | None, db: str | None, mode: str, top: int
) -> dict[str, Any]:
    view = result.model_dump(mode="json")
    view["interval"] = list(result.interval)
    # Which leave-one-out figures were computed: with "top", the largest `top` of each.
    view["contributions_computed"] = {"mode": mode, "top": top if mode == "top" else None}
    if stored is not None:
        view["ledger"] = {"db": db, "assessment_id": stored}
    return view


class _Row(NamedTuple):
    """What the findings table shows of one finding."""

    experiment: str
    value: float
    se: float
    not_scheming: float
    scheming: float


def _print_tables(manifest: Manifest | ManifestV2 | ManifestArrays, r: Assessment) -> None:
    console = stdout_console()
    _print_summary(console, manifest, r)
    ranked = list(r.contributions)[:_ROWS_SHOWN]
    if ranked:
        rows = _rows(manifest, ranked)
        table = Table(title="Findings, by contribution (change in log-odds if left out)")
        for col in (
            "finding",
            "experiment",
            "value ± se",
            "expected N / S",
            "weight",
            "Δ log-odds",
        ):
            table.add_column(col, justify="right" if col in ("weight", "Δ log-odds") else "left")
        for fid in ranked:
            f = rows[fid]
            w = r.weights[fid]
            table.add_row(
                escape(fid),
                escape(f.experiment),
                f"{f.value:g} ± {f.se:g}",
                f"{f.not_scheming:g} / {f.scheming:g}",
                f"[red]{w:+.3f}[/red]" if w < 0 else f"{w:+.3f}",
                f"{r.contributions[fid]:+.3f}",
            )
        console.print(table)
        if len(r.contributions) < r.n_findings or len(ranked) < len(r.contributions):
            console.print(f"(showing {len(ranked)} of {r.n_findings} findings)")
    if r.factor_contributions:
        _print_factors(console, manifest, r)
    for message in r.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(message)}")


def _rows(manifest: Manifest | ManifestV2 | ManifestArrays, ids: list[str]) -> dict[str, _Row]:
    """The shown findings' rows, looked up without a model per finding when read in bulk."""
    wanted = set(ids)
    if not isinstance(manifest, ManifestArrays):
        return {
            f.id: _Row(f.experiment, f.value, f.se, f.expected.not_scheming, f.expected.scheming)
            for f in manifest.findings
            if f.id in wanted
        }
    cols, ev = manifest.columns, manifest.arrays
    return {
        cols.ids[i]: _Row(
            cols.experiment[i],
            float(cols.value[i]),
            float(cols.se[i]),
            float(ev.mu_not_scheming[i]),
            float(ev.mu_scheming[i]),
        )
        for i, fid in enumerate(cols.ids)
        if fid in wanted
    }


def _print_factors(
    console: Console, manifest: Manifest | ManifestV2 | ManifestArrays, r: Assessment
) -> None:
    header: Manifest | ManifestV2
    if isinstance(manifest, ManifestArrays):
        header = manifest.header
        counts = np.bincount(manifest.arrays.load_cols, minlength=len(header.factors))
        loads = dict(zip((f.id for f in header.factors), counts.tolist(), strict=True))
    else:
        header = manifest
        loads = Counter(fid for f in manifest.findings for fid in f.factors)
    kinds = {f.id: f for f in header.factors}
    ftable = Table(title="Shared factors (change in log-odds from modelling each)")
    for col in ("factor", "kind", "sd", "findings", "Δ log-odds"):
        ftable.add_column(col)
    for fid, value in list(r.factor_contributions.items())[:_ROWS_SHOWN]:
        fac = kinds[fid]
        scale = f"[{fac.sd[0]:g}, {fac.sd[1]:g}]" if isinstance(fac.sd, tuple) else f"{fac.sd:g}"
        ftable.add_row(escape(fid), fac.kind, scale, str(loads.get(fid, 0)), f"{value:+.3f}")
    console.print(ftable)


def _print_summary(
    console: Console, manifest: Manifest | ManifestV2 | ManifestArrays, r: Assessment
) -> None:
    lo, hi = r.interval
    summary = Table(title=f"Overall safety assessment: {escape(r.target)}", show_header=False)
    summary.add_column(style="bold")
    summary.add_column()
    header = manifest.header if isinstance(manifest, ManifestArrays) else manifest
    ranged = isinstance(header.common_cause, tuple) or any(
        isinstance(f.sd, tuple) for f in header.factors
    )
    if r.draws:
        spread = f"interval [{lo:.4f}, {hi:.4f}] ({r.interval_level:.0%}, {r.draws} draws)"
    elif ranged:
        spread = "(no interval: --draws 0)"
    else:
        spread = "(no ranged inputs, so no interval)"
    summary.add_row("P(not scheming)", f"{r.p_not_scheming:.4f}   {spread}")
    if r.p_not_scheming_worst is not None:
        summary.add_row(
            "worst case over schemer types",
            f"{r.p_not_scheming_worst:.4f}   (the type it fits best)",
        )
    if r.untested_components:
        summary.add_row(
            "untested kinds",
            f"{escape(', '.join(r.untested_components))}: coverage ceiling "
            f"{r.coverage_ceiling:.4f}",
        )
    summary.add_row("naive (independent)", f"{r.p_not_scheming_naive:.4f}")
    summary.add_row("prior", f"{r.prior_not_scheming:.4f}")
    summary.add_row("assurance ceiling", f"{r.ceiling:.4f}   (common cause c = {r.common_cause:g})")
    before = "mixture" if r.manifest_version == 2 else "Gaussian"
    summary.add_row(
        "log LR  N:S", f"{r.log_lr:+.3f}   ({before} {r.llr:+.3f}, naive {r.llr_naive:+.3f})"
    )
    summary.add_row("findings", f"{r.n_findings}, worth {r.n_eff:.1f} independent (n_eff)")
    if r.component_posterior and isinstance(manifest, ManifestV2):
        for hyp, name in ((False, "looks like (if aligned)"), (True, "looks like (if scheming)")):
            shares = {c.id: r.component_posterior[c.id] for c in manifest.components}
            ids = [c.id for c in manifest.components if c.scheming is hyp]
            best = sorted(ids, key=lambda i: -shares[i])[:3]
            summary.add_row(name, ", ".join(f"{escape(i)} {shares[i]:.2f}" for i in best))
    console.print(summary)
