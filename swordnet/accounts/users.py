"""Users, passwords, API tokens and console sessions.

Passwords are kept as scrypt hashes (the standard library's ``hashlib.scrypt``); API tokens
and session cookies are random strings of which only the SHA-256 is stored, so a copy of
the database gives no one a working credential. Whoever authenticates becomes a
:class:`Principal`, which :mod:`swordnet.accounts.access` uses to scope every query.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib.resources import files

from sqlalchemy import select
from sqlalchemy.orm import Session

from swordnet.core.errors import BadRequest
from swordnet.core.models import ROLES, ApiToken, ConsoleSession, RightsHolder, User
from swordnet.core.text import text_problem
from swordnet.core.timeutil import utcnow

TOKEN_PREFIX = "swn_"
SESSION_LIFETIME = timedelta(hours=12)
LAST_USED_RESOLUTION = timedelta(minutes=1)
MIN_PASSWORD_LENGTH = 12
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}")


class AccountError(BadRequest):
    """A user, token or session request that cannot be carried out as asked."""


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user with a role, and for rights holders the holder they act for."""

    user_id: int
    username: str
    role: str
    holder_id: int | None

    @property
    def is_staff(self) -> bool:
        """Admins and staff see everything; rights holders only their own holder's data."""
        return self.role in ("admin", "staff")


def principal_of(user: User) -> Principal:
    return Principal(user.id, user.username, user.role, user.holder_id)


def hash_password(password: str) -> str:
    """An scrypt hash of ``password`` with a fresh salt, as one self-describing string.

    >>> h = hash_password("correct horse battery")
    >>> h.startswith("scrypt$16384$8$1$"), check_password(h, "correct horse battery")
    (True, True)
    >>> check_password(h, "wrong")
    False
    """
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    b64 = base64.b64encode
    return (f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}$"
            f"{b64(salt).decode()}${b64(digest).decode()}")


def check_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches the stored hash (compared in constant time)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                                r=int(r), p=int(p), dklen=len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


@cache
def _unknown_user_hash() -> str:
    """Checked against when the username is unknown, at the cost of a real check."""
    return hash_password(secrets.token_urlsafe(16))


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def add_user(session: Session, username: str, password: str, role: str,
             holder_name: str | None = None, *, new_holder: bool = False) -> User:
    """Create a user; a rights-holder user is bound to the existing holder called
    ``holder_name`` (or, with ``new_holder``, to a holder created by that name, so that a
    misspelt name is not taken for a new holder)."""
    if not _USERNAME.fullmatch(username):
        raise AccountError(f"username {username!r} must be 1-100 letters, digits or . _ @ -, "
                           "starting with a letter or digit")
    if role not in ROLES:
        raise AccountError(f"role {role!r} is not one of {', '.join(ROLES)}")
    check_password_policy(password, username)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AccountError(f"user {username!r} already exists")
    holder_id = None
    if role == "rights_holder":
        if not holder_name or not holder_name.strip():
            raise AccountError("a rights_holder user needs --holder NAME")
        holder_name = holder_name.strip()
        holder = session.scalar(select(RightsHolder).where(RightsHolder.name == holder_name))
        if holder is None and not new_holder:
            raise AccountError(f"no rights holder called {holder_name!r}; check the name, or "
                               "give --new-holder to create it")
        if holder is None:
            holder = RightsHolder(name=holder_name)
            session.add(holder)
            session.flush()
        holder_id = holder.id
    elif holder_name or new_holder:
        raise AccountError(f"--holder applies to rights_holder users only, not {role}")
    user = User(username=username, password_hash=hash_password(password), role=role,
                holder_id=holder_id)
    session.add(user)
    session.flush()
    return user


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (``swordnet/data/common-passwords.txt``),
    casefolded."""
    text = (files("swordnet") / "data" / "common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().casefold() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


def check_password_policy(password: str, username: str) -> None:
    """Refuse a password that is short, only spaces, one repeated character, a common
    password or the username; the message says which rule it breaks.

    >>> check_password_policy("ten spaces" + " " * 4, "ann")
    >>> check_password_policy(" " * 14, "ann")
    Traceback (most recent call last):
    ...
    swordnet.accounts.users.AccountError: password must not be only spaces
    >>> check_password_policy("Password1234", "ann")
    Traceback (most recent call last):
    ...
    swordnet.accounts.users.AccountError: password is a commonly used one; choose another
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if not password.strip():
        raise AccountError("password must not be only spaces")
    if len(set(password)) == 1:
        raise AccountError("password must not be one character repeated")
    folded = password.casefold()
    if folded.strip() in common_passwords() or "".join(folded.split()) in common_passwords():
        raise AccountError("password is a commonly used one; choose another")
    if username.casefold() in (folded.strip(), "".join(folded.split())):
        raise AccountError("password must not be the username")
    if problem := text_problem(password):
        raise AccountError(f"password {problem}")


def set_password(session: Session, username: str, password: str) -> User:
    """Give a user a new password; their console sessions end."""
    check_password_policy(password, username)
    user = user_by_name(session, username)
    user.password_hash = hash_password(password)
    for row in session.scalars(select(ConsoleSession).where(ConsoleSession.user_id == user.id)):
        session.delete(row)
    return user


def user_by_name(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise AccountError(f"no user called {username!r}")
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The enabled user with this name and password, or None. Every attempt costs one
    password check, so the time taken does not tell whether a username exists."""
    user = None
    if _USERNAME.fullmatch(username):
        user = session.scalar(select(User).where(User.username == username))
    matches = check_password(user.password_hash if user else _unknown_user_hash(), password)
    return user if user is not None and matches and not user.disabled else None


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once; only its hash is stored


def create_token(session: Session, username: str, name: str,
                 lifetime: timedelta | None = None) -> IssuedToken:
    """A new API token for ``username``; the secret is returned once and never stored."""
    user = user_by_name(session, username)
    if user.disabled:
        raise AccountError(f"user {username!r} is disabled")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name or "token", token_hash=_sha256(secret),
                     prefix=secret[:10],
                     expires_at=utcnow() + lifetime if lifetime is not None else None)
    session.add(token)
    session.flush()
    return IssuedToken(token, secret)


def revoke_token(session: Session, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise AccountError(f"no API token with id {token_id}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    return token


def token_principal(session: Session, secret: str,
                    now: datetime | None = None) -> Principal | None:
    """The principal an API token stands for, or None if it is unknown, expired, revoked or
    its user is disabled."""
    now = now or utcnow()
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _sha256(secret)))
    if token is None or token.revoked_at is not None or token.user.disabled:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        token.last_used_at = now  # not on every request: a write per call would contend
    return principal_of(token.user)


def start_session(session: Session, user: User) -> tuple[str, ConsoleSession]:
    """A new console session for ``user``: the cookie value (only its hash is stored)."""
    cookie = secrets.token_urlsafe(32)
    row = ConsoleSession(user_id=user.id, token_hash=_sha256(cookie),
                         csrf_token=secrets.token_urlsafe(32),
                         expires_at=utcnow() + SESSION_LIFETIME)
    session.add(row)
    session.flush()
    return cookie, row


def find_session(session: Session, cookie: str) -> ConsoleSession | None:
    """The live session behind a cookie value, or None (unknown, expired, user disabled)."""
    row = session.scalar(select(ConsoleSession)
                         .where(ConsoleSession.token_hash == _sha256(cookie)))
    if row is None or row.expires_at <= utcnow() or row.user.disabled:
        return None
    return row


def end_session(session: Session, cookie: str) -> None:
    row = session.scalar(select(ConsoleSession)
                         .where(ConsoleSession.token_hash == _sha256(cookie)))
    if row is not None:
        session.delete(row)
