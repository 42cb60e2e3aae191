"""``neurath serve``: the dashboard; ``neurath users add/list``: its accounts.

The web extra (``pip install 'neurath[web]'``) is imported only when these commands run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from neurath._errors import NeurathError
from neurath.cli._main import cli, echo, stdout_console

_ACCOUNTS = click.option(
    "--accounts",
    "accounts_file",
    default=None,
    type=click.Path(dir_okay=False),
    help="The accounts file (default: $NEURATH_ACCOUNTS or .neurath/accounts.db).",
)


def default_accounts() -> str:
    return os.environ.get("NEURATH_ACCOUNTS") or ".neurath/accounts.db"


def _web(module: str) -> Any:
    """A module of the web extra, or a one-line error saying how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise NeurathError(
            f"the dashboard needs the web extra ({exc.name} is missing): pip install 'neurath[web]'"
        ) from None


@cli.command()
@click.option("--runs", "runs_dir", default="runs", show_default=True, help="The runs folder.")
@click.option(
    "--ledger",
    default=None,
    help="Ledger where reviews are kept: a file or postgresql:// URL "
    "(default: $NEURATH_LEDGER or .neurath/ledger.db).",
)
@_ACCOUNTS
@click.option(
    "--gold",
    default=None,
    type=click.Path(dir_okay=False, exists=True),
    help="More gold review items (JSON Lines: {item, truth} a line).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--secure-cookies",
    is_flag=True,
    help="Mark cookies Secure (when served behind HTTPS).",
)
def serve(
    runs_dir: str,
    ledger: str | None,
    accounts_file: str | None,
    gold: str | None,
    host: str,
    port: int,
    secure_cookies: bool,
) -> None:
    """Serve the dashboard: runs, targets, ledgers, runs in progress and the review queue."""
    from neurath.testbed._verify import home_ledger

    runs = Path(runs_dir)
    if not runs.is_dir():
        raise NeurathError(f"runs folder {runs} does not exist (start a run with 'neurath run')")
    accounts = Path(accounts_file or default_accounts())
    store = _web("neurath.web._accounts").AccountStore(accounts)
    if not store.users():
        raise NeurathError(
            f"accounts file {accounts} has no users: add one with "
            "'neurath users add NAME --role admin'"
        )
    create_app = _web("neurath.web").create_app
    uvicorn = _web("uvicorn")
    app = create_app(
        runs_dir=runs,
        ledger=ledger or home_ledger(),
        accounts=accounts,
        gold=Path(gold) if gold else None,
        secure_cookies=secure_cookies,
    )
    shown = f"[{host}]" if ":" in host else host
    echo(f"neurath dashboard: http://{shown}:{port}/ (Ctrl-C to stop)")
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        proxy_headers=False,
        timeout_graceful_shutdown=3,  # open event streams do not hold up Ctrl-C
    )


@cli.group()
def users() -> None:
    """Accounts of the dashboard: reviewers and admins."""


@users.command("add")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["reviewer", "admin"]),
    required=True,
    help="reviewer: reviews items; admin: also sees every review and reviewer's calibration.",
)
@click.option("--pool", default=None, help="The reviewer pool their reviews count for.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input (one line) instead of a prompt.",
)
@_ACCOUNTS
def users_add(
    name: str, role: str, pool: str | None, password_stdin: bool, accounts_file: str | None
) -> None:
    """Add a user; the password is stored as an argon2 hash, never as it is."""
    accounts_module = _web("neurath.web._accounts")
    accounts_module.check_user_name(name)
    if pool is not None:
        accounts_module.check_user_name(pool, "pool")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise NeurathError("the password is empty")
    accounts = Path(accounts_file or default_accounts())
    store = accounts_module.AccountStore(accounts, create=True)
    user = store.add_user(name, password, role=role, pool=pool)
    echo(f"added {user.role} {user.name} (pool {user.pool}) to {accounts}")


@users.command("list")
@_ACCOUNTS
def users_list(accounts_file: str | None) -> None:
    """List the users (never their password hashes)."""
    accounts = Path(accounts_file or default_accounts())
    store = _web("neurath.web._accounts").AccountStore(accounts)
    table = Table(title=f"Users in {accounts}")
    for col in ("name", "role", "pool", "created"):
        table.add_column(col)
    for u in store.users():
        table.add_row(escape(u.name), u.role, escape(u.pool), u.created_at)
    stdout_console().print(table)
