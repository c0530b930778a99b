"""The ``allowlist`` commands: domains a rights holder licensed, for all their works or one."""

from __future__ import annotations

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from swordnet.cli.util import ID, console, database, emit, in_unit, json_option
from swordnet.core.errors import NotFound
from swordnet.core.models import AllowlistEntry, RightsHolder, Work
from swordnet.watch.targets import check_host


@click.group()
def allowlist() -> None:
    """Licensed domains: crawls skip the holder's (or the work's) matches there, and shutdown
    lists leave out those hits (not other holders')."""


@allowlist.command("add")
@click.argument("domain")
@click.option("--holder", required=True, help="The rights holder who licensed the domain.")
@click.option("--work", "work_id", type=ID, help="Only for this work (default: all).")
def allowlist_add(domain: str, holder: str, work_id: int | None) -> None:
    """Put DOMAIN (a host, or host:port) on HOLDER's allowlist."""
    def add(session: Session) -> str:
        rights_holder = session.scalar(select(RightsHolder).where(RightsHolder.name == holder))
        if rights_holder is None:
            raise NotFound(f"no rights holder named {holder!r}")
        if work_id is not None:
            work = session.get(Work, work_id)
            if work is None or work.holder_id != rights_holder.id:
                raise NotFound(f"{holder!r} has no work with id {work_id}")
        key = check_host(domain)
        session.add(AllowlistEntry(holder_id=rights_holder.id, work_id=work_id, domain=key))
        return key

    console().print(f"{in_unit(add)} is on {holder}'s allowlist.")


@allowlist.command("list")
@json_option
def allowlist_list(as_json: bool) -> None:
    """List allowlisted domains."""
    with database() as db, db.session() as session:
        data = [{"id": e.id, "domain": e.domain, "holder_id": e.holder_id, "work_id": e.work_id}
                for e in session.scalars(select(AllowlistEntry).order_by(AllowlistEntry.id))]
    emit(data, as_json, "Allowlist", ["id", "domain", "holder_id", "work_id"])
