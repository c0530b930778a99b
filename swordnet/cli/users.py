"""The ``users`` and ``tokens`` commands: console and API users, and their API tokens."""

from __future__ import annotations

import sys
from datetime import timedelta

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from swordnet.accounts.users import add_user, create_token, revoke_token, user_by_name
from swordnet.cli.util import ID, console, emit, in_unit, interval_option, json_option
from swordnet.core.models import ROLES, ApiToken, RightsHolder, User
from swordnet.core.timeutil import utcnow


@click.group()
def users() -> None:
    """Console and API users: admin, staff, or rights_holder bound to one holder."""


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--holder", help="For rights_holder users: the (existing) rights holder they "
                               "act for.")
@click.option("--new-holder", is_flag=True,
              help="Create the rights holder named by --holder if there is none yet.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input.")
def users_add(username: str, role: str, holder: str | None, new_holder: bool,
              password_stdin: bool) -> None:
    """Add a user who can sign in to the console and own API tokens. A password has at
    least 12 characters and is not a common one or the username."""
    password = _read_password(password_stdin)

    def add(session: Session) -> str:
        user = add_user(session, username, password, role, holder, new_holder=new_holder)
        return f"{user.username} ({user.role}{', ' + holder if holder else ''})"

    console().print(f"Added user {in_unit(add)}.")


@users.command("list")
@json_option
def users_list(as_json: bool) -> None:
    """List users with their role and rights holder."""
    def rows(session: Session) -> list[dict[str, object]]:
        query = (select(User, RightsHolder.name).outerjoin(RightsHolder)
                 .order_by(User.id))
        return [{"id": u.id, "username": u.username, "role": u.role, "holder": holder,
                 "disabled": u.disabled} for u, holder in session.execute(query)]

    emit(in_unit(rows), as_json, "Users", ["id", "username", "role", "holder", "disabled"])


@users.command("disable")
@click.argument("username")
def users_disable(username: str) -> None:
    """Stop a user signing in; their sessions and tokens stop working at once."""
    def disable(session: Session) -> None:
        user_by_name(session, username).disabled = True

    in_unit(disable)
    console().print(f"User {username} is disabled.")


@click.group()
def tokens() -> None:
    """API tokens (sent as 'Authorization: Bearer TOKEN'; stored only as hashes)."""


@tokens.command("create")
@click.argument("username")
@click.option("--name", default="token", show_default=True, help="What the token is for.")
@click.option("--expires", callback=interval_option,
              help="Lifetime, e.g. 30d or 12h (default: until revoked).")
def tokens_create(username: str, name: str, expires: int | None) -> None:
    """Create an API token for USERNAME and print it (it is shown only this once)."""
    lifetime = timedelta(seconds=expires) if expires else None

    def create(session: Session) -> tuple[int, str]:
        issued = create_token(session, username, name, lifetime)
        return issued.token.id, issued.secret

    token_id, secret = in_unit(create)
    console().print(f"Token {token_id} for {username} (store it now; it is not shown again):",
                    highlight=False)
    click.echo(secret)


@tokens.command("list")
@json_option
def tokens_list(as_json: bool) -> None:
    """List API tokens: owner, prefix, expiry and whether they are revoked."""
    def rows(session: Session) -> list[dict[str, object]]:
        now = utcnow()
        query = select(ApiToken, User.username).join(User).order_by(ApiToken.id)
        return [{"id": t.id, "user": username, "name": t.name, "prefix": t.prefix,
                 "created": t.created_at.isoformat(timespec="seconds"),
                 "expires": t.expires_at.isoformat(timespec="seconds") if t.expires_at
                 else None,
                 "state": "revoked" if t.revoked_at else "expired"
                 if t.expires_at and t.expires_at <= now else "active"}
                for t, username in session.execute(query)]

    emit(in_unit(rows), as_json, "API tokens",
         ["id", "user", "name", "prefix", "expires", "state"])


@tokens.command("revoke")
@click.argument("token_id", type=ID)
def tokens_revoke(token_id: int) -> None:
    """Revoke an API token; requests with it get 401 from now on."""
    in_unit(revoke_token, token_id)
    console().print(f"Token {token_id} is revoked.")
