"""The dashboard's accounts: users with argon2 password hashes, and their sessions.

One SQLite file holds both. A user is a name, a role (``reviewer`` or ``admin``), the reviewer
pool their reviews count for, and an argon2id hash of their password (never the password).
A session is a random token handed to the browser in a cookie; the file keeps only its SHA-256,
so a copy of the file logs nobody in, with the session's own CSRF token and its expiry.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from neurath._errors import NeurathError

Role = Literal["reviewer", "admin"]
ROLES: tuple[Role, ...] = ("reviewer", "admin")
SESSION_SECONDS = 12 * 3600
"""A session lasts 12 hours from login, however busy."""
DEFAULT_POOL = "default"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_PASSWORD = 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('reviewer', 'admin')),
    pool TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL REFERENCES users(name),
    csrf TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
-- The deployment's own key for review item ids (neurath.review): with it, an item's id cannot
-- be computed from its text, so a reviewer who knows how gold items are made still cannot tell
-- them apart. Made once, on first use; reviews refer to items by these ids, so keep the file.
CREATE TABLE IF NOT EXISTS secrets (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
"""


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    pool: str
    created_at: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class Session:
    """A logged-in user, as a request sees them."""

    user: User
    csrf: str
    """The session's CSRF token: every state-changing request must carry it."""
    expires_at: float


def check_user_name(name: str, what: str = "user name") -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise NeurathError(
            f"{what} {name[:40]!r} is not allowed: use 1-64 letters, digits, '.', '_' and '-', "
            "starting with a letter or digit"
        )
    return name


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same_token(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison of two tokens; a missing or empty one never matches."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


class AccountStore:
    """Users and sessions in the SQLite file ``path`` (safe to share between threads)."""

    def __init__(
        self, path: str | Path, *, create: bool = False, clock: Callable[[], float] = time.time
    ) -> None:
        from argon2 import PasswordHasher

        self.path = Path(path)
        self._clock = clock
        self._hasher = PasswordHasher()
        # Each hash takes ~64 MiB and tens of ms: a burst of logins waits its turn instead of
        # taking the machine's memory.
        self._hashing = threading.BoundedSemaphore(4)
        self._dummy: str | None = None
        if not self.path.exists():
            if not create:
                raise NeurathError(
                    f"accounts file {self.path} does not exist: add a user with "
                    "'neurath users add NAME --role admin'"
                )
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.is_file():
            raise NeurathError(f"accounts file {self.path}: not a regular file")
        with self._connect() as conn:
            conn.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise NeurathError(f"accounts file {self.path}: cannot open: {exc}") from None
        try:
            conn.execute("PRAGMA busy_timeout = 30000")
            yield conn
        except sqlite3.DatabaseError as exc:
            raise NeurathError(f"accounts file {self.path}: {exc}") from None
        finally:
            conn.close()

    def item_key(self) -> bytes:
        """This deployment's key for review item ids (made on first use, then kept)."""
        import secrets

        with self._connect() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO secrets (name, value) VALUES ('review_items', ?)",
                (secrets.token_bytes(32),),
            )
            row = conn.execute("SELECT value FROM secrets WHERE name = 'review_items'").fetchone()
        return bytes(row[0])

    # -- users -----------------------------------------------------------------------------
    def add_user(self, name: str, password: str, *, role: Role, pool: str | None = None) -> User:
        check_user_name(name)
        check_user_name(pool or DEFAULT_POOL, "pool")
        if role not in ROLES:
            raise NeurathError(f"role {role!r}: choose reviewer or admin")
        if not password or len(password) > MAX_PASSWORD:
            raise NeurathError(f"a password must have 1 to {MAX_PASSWORD} characters")
        hashed = self._hash(password)
        created = datetime.now(UTC).isoformat(timespec="seconds")
        with self._connect() as conn:
            try:
                conn.execute(
                    "INSERT INTO users (name, role, pool, password_hash, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (name, role, pool or DEFAULT_POOL, hashed, created),
                )
            except sqlite3.IntegrityError:
                raise NeurathError(f"user {name!r} already exists in {self.path}") from None
        return User(name, role, pool or DEFAULT_POOL, created)

    def users(self) -> list[User]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT name, role, pool, created_at FROM users ORDER BY name"
            ).fetchall()
        return [User(r[0], r[1], r[2], r[3]) for r in rows]

    def user(self, name: str) -> User | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT name, role, pool, created_at FROM users WHERE name = ?", (name,)
            ).fetchone()
        return User(row[0], row[1], row[2], row[3]) if row else None

    def _hash(self, password: str) -> str:
        with self._hashing:
            return self._hasher.hash(password)

    def check_password(self, name: str, password: str) -> User | None:
        """The user if ``password`` is theirs; None otherwise (an unknown name costs the same
        time as a wrong password, so a name's existence does not show)."""
        from argon2.exceptions import InvalidHashError, VerificationError

        if not isinstance(name, str) or not isinstance(password, str):
            return None
        if len(password) > MAX_PASSWORD:
            return None
        with self._connect() as conn:
            row = conn.execute("SELECT password_hash FROM users WHERE name = ?", (name,)).fetchone()
        if self._dummy is None:
            self._dummy = self._hash(secrets.token_hex(8))
        stored = row[0] if row else self._dummy
        try:
            with self._hashing:
                self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        if self._hasher.check_needs_rehash(stored):
            with self._connect() as conn:
                conn.execute(
                    "UPDATE users SET password_hash = ? WHERE name = ?",
                    (self._hash(password), name),
                )
        return self.user(name)

    # -- sessions --------------------------------------------------------------------------
    def start_session(self, user: User) -> tuple[str, Session]:
        """A new session for ``user``: (the token for the cookie, the session)."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = self._clock()
        with self._connect() as conn:
            conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
            conn.execute(
                "INSERT INTO sessions (token_sha256, name, csrf, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (token_digest(token), user.name, csrf, now, now + SESSION_SECONDS),
            )
        return token, Session(user, csrf, now + SESSION_SECONDS)

    def session(self, token: str | None) -> Session | None:
        """The live session a cookie's token opens, or None (unknown, expired, logged out)."""
        if not token or len(token) > 200:
            return None
        with self._connect() as conn:
            row = conn.execute(
                "SELECT u.name, u.role, u.pool, u.created_at, s.csrf, s.expires_at "
                "FROM sessions s JOIN users u ON u.name = s.name WHERE s.token_sha256 = ?",
                (token_digest(token),),
            ).fetchone()
        if row is None or row[5] <= self._clock():
            return None
        return Session(User(row[0], row[1], row[2], row[3]), row[4], row[5])

    def end_session(self, token: str | None) -> None:
        if token:
            with self._connect() as conn:
                conn.execute("DELETE FROM sessions WHERE token_sha256 = ?", (token_digest(token),))
