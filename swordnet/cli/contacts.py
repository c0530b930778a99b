"""The ``contacts`` commands: who a site's notices go to (abuse contacts from RDAP, or set
by staff)."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy.orm import Session

from casefiles.contacts import contacts as site_contacts
from casefiles.contacts import find_site, refresh, set_contact
from casefiles.rdap import rdap_client
from swordnet.cli.util import (
    actor_option,
    console,
    current_settings,
    database,
    emit,
    in_unit,
    json_option,
)


@click.group()
def contacts() -> None:
    """Abuse contacts: where a site's notices are sent."""


def _rows(domain: str) -> list[dict[str, Any]]:
    def rows(session: Session) -> list[dict[str, Any]]:
        return [{"source": c.source, "subject": c.subject, "outcome": c.outcome,
                 "email": c.email, "detail": c.detail, "actor": c.actor,
                 "looked_up_at": c.looked_up_at.isoformat(timespec="seconds")}
                for c in site_contacts(session, find_site(session, domain))]

    return in_unit(rows)


@contacts.command("show")
@click.argument("domain")
@click.option("--refresh", "again", is_flag=True,
              help="Ask RDAP again even if earlier answers are stored.")
@json_option
def contacts_show(domain: str, again: bool, as_json: bool) -> None:
    """The site's abuse contacts, most preferred first (the first email is what `notices
    record` uses without --recipient); asks RDAP about its domain and IPs if nothing is
    stored yet, or with --refresh."""
    rows = _rows(domain)
    if again or not rows:
        with database() as db:
            refresh(db, domain, rdap_client(current_settings()))
        rows = _rows(domain)
    emit(rows, as_json, f"Abuse contacts of {domain}",
         ["source", "subject", "outcome", "email", "detail", "looked_up_at"])


@contacts.command("set")
@click.argument("domain")
@click.argument("email")
@actor_option
def contacts_set(domain: str, email: str, actor: str) -> None:
    """Send DOMAIN's notices to EMAIL (staff's address wins over RDAP's)."""
    in_unit(lambda session: set_contact(session, find_site(session, domain), email, actor))
    console().print(f"Notices for {domain} now go to {email.strip()}.")


@contacts.command("clear")
@click.argument("domain")
@actor_option
def contacts_clear(domain: str, actor: str) -> None:
    """Forget staff's address for DOMAIN (RDAP's is suggested again)."""
    in_unit(lambda session: set_contact(session, find_site(session, domain), None, actor))
    console().print(f"Staff's contact for {domain} removed.")
