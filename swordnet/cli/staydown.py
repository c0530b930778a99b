"""The ``staydown`` commands: automatic confirmation of reappearing copies, and the sites
proposed as mirrors of a case."""

from __future__ import annotations

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.lifecycle import get_case
from casefiles.mirror_proposals import accept, decline, list_proposals, proposal_row
from casefiles.staydown import (
    Policy,
    case_policy,
    instance_policy,
    set_case_policy,
    set_instance_policy,
)
from swordnet.cli.util import (
    ID,
    actor_option,
    console,
    database,
    emit,
    fail,
    in_unit,
    json_option,
)
from swordnet.core.models import MIRROR_PROPOSAL_STATUSES, Case, MirrorProposal

ON_OFF_DEFAULT = click.Choice(["on", "off", "default"])


@click.group()
def staydown() -> None:
    """Copies already confirmed in a case, found again: automatic confirmation and mirrors."""


def _words(policy: Policy) -> str:
    return (f"exact copies {'confirmed automatically' if policy.exact else 'reviewed'}, "
            f"fuzzy copies {'confirmed automatically' if policy.fuzzy else 'reviewed'}")


@staydown.command("policy")
@click.option("--case", "case_id", type=ID, help="Set or show this case's own policy.")
@click.option("--exact", type=ON_OFF_DEFAULT, help="Confirm reappearing exact copies (same "
              "sha256) automatically (default: a case follows the instance).")
@click.option("--fuzzy", type=ON_OFF_DEFAULT, help="Confirm reappearing copies of the same "
              "work at a score at least as close automatically.")
@actor_option
def staydown_policy(case_id: int | None, exact: str | None, fuzzy: str | None,
                    actor: str) -> None:
    """Show or set whether reappearing copies are confirmed without review (the instance's
    defaults: exact copies on, fuzzy ones off; a case may override them)."""
    if case_id is None and "default" in (exact, fuzzy):
        fail("'default' is for a case's own policy (--case N); the instance's is on or off")

    def apply(session: Session) -> str:
        if case_id is None:
            if exact is None and fuzzy is None:
                policy = instance_policy(session)
            else:
                policy = set_instance_policy(session, actor, _flag(exact), _flag(fuzzy))
            overrides = session.scalars(select(Case).where(
                (Case.auto_confirm_exact.is_not(None)) | (Case.auto_confirm_fuzzy.is_not(None)))
                .order_by(Case.id)).all()
            lines = [f"Instance: {_words(policy)}."]
            lines += [f"Case {c.id} (its own setting): {_words(case_policy(session, c))}."
                      for c in overrides]
            return "\n".join(lines)
        case = get_case(session, case_id)
        if exact is not None or fuzzy is not None:
            set_case_policy(session, case, exact, fuzzy)
        return f"Case {case.id}: {_words(case_policy(session, case))}."

    console().print(in_unit(apply))


def _flag(value: str | None) -> bool | None:
    return None if value is None else value == "on"


@staydown.command("proposals")
@click.option("--status", type=click.Choice([*MIRROR_PROPOSAL_STATUSES, "all"]),
              default="proposed", show_default=True)
@click.option("--case", "case_id", type=ID, help="Only proposals for this case.")
@json_option
def staydown_proposals(status: str, case_id: int | None, as_json: bool) -> None:
    """Sites proposed as mirrors of a case (they serve its copies or share its IP address)."""
    with database() as db, db.session() as session:
        data = [proposal_row(p) for p in list_proposals(
            session, None if status == "all" else status, case_id)]
    emit(data, as_json, "Mirror proposals", ["id", "case_id", "case_site", "site", "status",
                                             "reasons"])


def _named(proposal: MirrorProposal) -> tuple[str, int]:
    return proposal.site.domain, proposal.case_id


@staydown.command("accept")
@click.argument("proposal_id", type=ID)
@actor_option
def staydown_accept(proposal_id: int, actor: str) -> None:
    """Link the proposed site to its case as a mirror (its confirmed hits join the case)."""
    site, case_id = in_unit(lambda s: _named(accept(s, proposal_id, actor)))
    console().print(f"{site} is linked to case {case_id} as a mirror.")


@staydown.command("decline")
@click.argument("proposal_id", type=ID)
@actor_option
def staydown_decline(proposal_id: int, actor: str) -> None:
    """Refuse a mirror proposal (it is not raised again)."""
    site, case_id = in_unit(lambda s: _named(decline(s, proposal_id, actor)))
    console().print(f"Declined: {site} is not proposed as a mirror of case {case_id} again.")
