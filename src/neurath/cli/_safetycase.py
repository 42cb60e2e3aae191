"""``neurath safetycase RUN [RUN ...]``: a safety case for the research scheme of a run."""

from __future__ import annotations

from pathlib import Path

import click

from neurath._errors import NeurathError
from neurath.cli._main import cli, echo

CASE_FILES = ("case.json", "case.md", "case.html", "case.gsn.yaml")


def _review_key(accounts: str | None) -> bytes | None:
    """The key the dashboard made its review item ids with (kept in its accounts file); None
    where no accounts file is named and none is at the default place."""
    from neurath.cli._serve import _web, default_accounts

    path = Path(accounts or default_accounts())
    if not path.exists() and accounts is None:
        return None
    key: bytes = _web("neurath.web._accounts").AccountStore(path).item_key()
    return key


@cli.command()
@click.argument("runs", nargs=-1, required=True)
@click.option(
    "--baseline",
    default=None,
    help="A finished run with less automation on the same suite: is less automation possible?",
)
@click.option(
    "--saboteur",
    default=None,
    help="A finished red-team run of the same scheme (controller: saboteur, told which targets "
    "scheme): the sabotage claim's evidence.",
)
@click.option(
    "--reviews",
    default=None,
    help="A ledger of human reviews (neurath serve --ledger): reviews of the run's items make "
    "the scheme level 3.",
)
@click.option(
    "--accounts",
    default=None,
    type=click.Path(dir_okay=False),
    help="With --reviews: the dashboard's accounts file, which keeps the key its review items "
    "are named with (default: $NEURATH_ACCOUNTS or .neurath/accounts.db, where it exists).",
)
@click.option(
    "--out",
    default=None,
    type=click.Path(file_okay=False),
    help="Folder to write the case into (default: <first RUN>/safetycase).",
)
def safetycase(
    runs: tuple[str, ...],
    baseline: str | None,
    saboteur: str | None,
    reviews: str | None,
    accounts: str | None,
    out: str | None,
) -> None:
    """Build the safety case for the scheme of finished run RUN (a folder, or a run id under
    ./runs; further runs add their targets and audit logs).

    Writes case.json (the document), case.md, case.html (one self-contained page with the
    goal-structure diagram) and case.gsn.yaml (for the GSN tool gsn2x).
    """
    from neurath.safetycase import build_case, to_gsn2x, to_html, to_markdown
    from neurath.testbed import RunFolder

    folders = [RunFolder.find(r).path for r in runs]
    case = build_case(
        folders,
        baseline=RunFolder.find(baseline).path if baseline is not None else None,
        saboteur=RunFolder.find(saboteur).path if saboteur is not None else None,
        reviews=reviews,
        review_key=_review_key(accounts) if reviews is not None else None,
    )
    texts = [case.model_dump_json(indent=2) + "\n", to_markdown(case), to_html(case)]
    texts.append(to_gsn2x(case))
    folder = Path(out) if out is not None else folders[0] / "safetycase"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in zip(CASE_FILES, texts, strict=True):
            (folder / name).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise NeurathError(f"{folder}: cannot write the case: {exc.strerror or exc}") from None
    top = case.claims[0]
    counts = {s: sum(c.status == s for c in case.claims) for s in ("supported", "undermined")}
    opened = sum(d.status == "open" for d in case.defeaters)
    echo(f"wrote {', '.join(CASE_FILES)} to {folder}")
    echo(
        f"{top.id} {top.status}: {counts['supported']} of {len(case.claims)} claims supported, "
        f"{counts['undermined']} undermined; {opened} of {len(case.defeaters)} defeaters open; "
        f"automation level {case.automation.level}"
    )
