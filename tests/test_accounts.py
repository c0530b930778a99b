"""Users, API tokens and undoable review decisions, through the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from casefiles.custody import first_broken_link
from casefiles.notices import record_notice
from casefiles.review import ReviewError, confirm_hit, reject_hit, undo_decision
from swordnet.accounts.users import (
    authenticate,
    create_token,
    find_session,
    set_password,
    start_session,
    token_principal,
)
from swordnet.core.db import Database
from swordnet.core.models import ApiToken, CaseEvent, Hit, HitDecision, Site, User
from swordnet.core.timeutil import utcnow
from swordnet.demo.samples import sample_files
from swordnet.works.registry import register_work
from tests.conftest import run_cli

PASSWORD = "a long enough password"


def add(*args: str, password: str = PASSWORD) -> tuple[int, str]:
    from click.testing import CliRunner

    from swordnet.cli.main import main
    result = CliRunner().invoke(main, ["users", "add", *args, "--password-stdin"],
                                input=password + "\n")
    return result.exit_code, result.output


def test_users_are_added_with_roles_and_holders(db: Database) -> None:
    assert add("alice", "--role", "staff")[0] == 0
    code, out = add("nl", "--role", "rights_holder", "--holder", "North Light", "--new-holder")
    assert code == 0 and "nl (rights_holder, North Light)" in out
    assert add("nl2", "--role", "rights_holder", "--holder", "North Light")[0] == 0
    with db.session() as session:
        users = {u.username: u for u in session.scalars(select(User))}
        assert users["alice"].holder_id is None and users["nl"].holder.name == "North Light"
        assert users["nl2"].holder_id == users["nl"].holder_id
        assert users["alice"].password_hash.startswith("scrypt$")
        assert PASSWORD not in users["alice"].password_hash
        assert authenticate(session, "alice", PASSWORD) is not None
        assert authenticate(session, "alice", PASSWORD + "x") is None
        assert authenticate(session, "nobody", PASSWORD) is None


@pytest.mark.parametrize(("args", "password", "message"), [
    (("bob", "--role", "staff"), "short", "password must be at least 12 characters"),
    (("bob", "--role", "staff"), " " * 10, "password must be at least 12 characters"),
    (("bob", "--role", "staff"), " " * 12, "password must not be only spaces"),
    (("bob", "--role", "staff"), "x" * 20, "password must not be one character repeated"),
    (("bob", "--role", "staff"), "Password1234", "password is a commonly used one"),
    (("bob", "--role", "staff"), "qwertyuiop12", "password is a commonly used one"),
    (("bob.builder.1", "--role", "staff"), "Bob.Builder.1", "password must not be the username"),
    (("bob", "--role", "rights_holder", "--holder", "Nroth Light"), PASSWORD,
     "no rights holder called 'Nroth Light'; check the name, or give --new-holder"),
    (("bob", "--role", "rights_holder"), PASSWORD, "a rights_holder user needs --holder"),
    (("bob", "--role", "staff", "--holder", "X"), PASSWORD, "--holder applies to rights_holder"),
    (("bad name!", "--role", "staff"), PASSWORD, "username 'bad name!' must be"),
    (("alice", "--role", "admin"), PASSWORD, "user 'alice' already exists"),
])
def test_bad_user_requests_fail_with_one_line_and_store_nothing(
        db: Database, args: tuple[str, ...], password: str, message: str) -> None:
    assert add("alice", "--role", "staff")[0] == 0
    code, out = add(*args, password=password)
    assert code == 1 and message in out and len(out.strip().splitlines()) == 1
    with db.session() as session:
        assert session.scalars(select(User.username)).all() == ["alice"]


def test_tokens_are_stored_as_hashes_expire_and_can_be_revoked(db: Database) -> None:
    add("alice", "--role", "staff")
    result = run_cli("tokens", "create", "alice", "--name", "ci", "--expires", "1h")
    assert result.exit_code == 0
    secret = result.output.strip().splitlines()[-1]
    assert secret.startswith("swn_") and len(secret) > 40
    with db.engine.connect() as connection:
        dump = " ".join(str(v) for row in connection.execute(text("SELECT * FROM api_tokens"))
                        for v in row)
    assert secret not in dump and secret[:10] in dump  # the prefix only, to tell tokens apart
    with db.session() as session:
        principal = token_principal(session, secret)
        assert principal is not None and principal.username == "alice" and principal.is_staff
        assert token_principal(session, secret, now=utcnow() + timedelta(hours=2)) is None
        assert token_principal(session, secret + "x") is None
        assert session.scalar(select(ApiToken.last_used_at)) is not None

    listed = run_cli("tokens", "list", "--json").output
    assert '"state": "active"' in listed and secret not in listed
    assert run_cli("tokens", "revoke", "1").exit_code == 0
    with db.session() as session:
        assert token_principal(session, secret) is None
    assert '"state": "revoked"' in run_cli("tokens", "list", "--json").output
    missing = run_cli("tokens", "revoke", "9")
    assert missing.exit_code == 1 and "no API token with id 9" in missing.output
    unknown = run_cli("tokens", "create", "nobody")
    assert unknown.exit_code == 1 and "no user called 'nobody'" in unknown.output


def test_disabling_a_user_or_changing_the_password_ends_access(db: Database) -> None:
    add("alice", "--role", "staff")
    with db.session() as session:
        secret = create_token(session, "alice", "t").secret
        cookie, _ = start_session(session, session.scalar(select(User)))
    with db.session() as session:
        set_password(session, "alice", "another long password")
        assert find_session(session, cookie) is None  # sessions end with a new password
        assert token_principal(session, secret) is not None  # tokens are separate
    assert run_cli("users", "disable", "alice").exit_code == 0
    with db.session() as session:
        assert token_principal(session, secret) is None
        assert authenticate(session, "alice", "another long password") is None


def _hits(db: Database, count: int) -> list[int]:
    """Pending hits on one site for one registered sample work."""
    path, title = sample_files()[0]
    with db.session() as session:
        work = register_work(session, path.read_bytes(), title=title, holder_name="H").work
        site = Site(domain="pirate.test")
        session.add(site)
        session.flush()
        hits = [Hit(work_id=work.id, site_id=site.id, url=f"http://pirate.test/{n}.jpg",
                    algorithm="phash", score=4) for n in range(count)]
        session.add_all(hits)
        session.flush()
        return [h.id for h in hits]


def test_decisions_are_undone_with_a_custody_event_until_a_notice_names_the_hit(
        db: Database) -> None:
    first, second, third = (str(i) for i in _hits(db, 3))
    assert run_cli("hits", "confirm", first, second, "--reviewer", "ann").exit_code == 0
    assert run_cli("hits", "reject", third, "--reviewer", "ann").exit_code == 0

    undone = run_cli("hits", "undo", first, third, "--reviewer", "bo")
    assert undone.exit_code == 0, undone.output
    assert f"Hit {first} is pending again" in undone.output
    with db.session() as session:
        hits = {h.id: h for h in session.scalars(select(Hit))}
        assert [(hits[int(i)].status, hits[int(i)].case_id, hits[int(i)].reviewer)
                for i in (first, second, third)] == [
            ("pending", None, None), ("confirmed", 1, "ann"), ("pending", None, None)]
        events = session.scalars(select(CaseEvent).order_by(CaseEvent.seq)).all()
        assert [e.type for e in events] == ["case_opened", "hit_confirmed", "hit_confirmed",
                                            "hit_unconfirmed"]
        assert events[-1].actor == "bo" and events[-1].payload["hit_id"] == int(first)
        assert first_broken_link(events) is None
        decisions = session.execute(select(HitDecision.hit_id, HitDecision.decision,
                                           HitDecision.previous_status, HitDecision.actor)
                                    .order_by(HitDecision.id)).all()
        assert [tuple(d) for d in decisions] == [
            (int(first), "confirmed", "pending", "ann"),
            (int(second), "confirmed", "pending", "ann"),
            (int(third), "rejected", "pending", "ann"),
            (int(first), "undone", "confirmed", "bo"),
            (int(third), "undone", "rejected", "bo")]

    again = run_cli("hits", "undo", first)
    assert again.exit_code == 1 and f"hit {first} is pending; only confirmed or rejected" \
        in again.output

    with db.session() as session:
        notice = record_notice(session, 1, "abuse@pirate.test", "dmca-en", "ann")
    refused = run_cli("hits", "undo", second)
    assert refused.exit_code == 1
    assert f"hit {second} is named in notice {notice.id}; it can no longer be undone" \
        in refused.output
    with db.session() as session:
        assert session.get(Hit, int(second)).status == "confirmed"


def test_a_decision_taken_meanwhile_by_someone_else_is_seen(db: Database) -> None:
    """Two reviewers on one hit: the second decision sees the first, even though its session
    had read the hit while it was still pending."""
    first, second = _hits(db, 2)
    with db.session() as ann:  # as the API does: a scoped query loads the hit first
        loaded = ann.scalars(select(Hit).where(Hit.id.in_([first, second]))).all()
        assert [h.status for h in loaded] == ["pending", "pending"]
        with db.session() as bo:
            confirm_hit(bo, first, "bo")
            reject_hit(bo, second, "bo")
        with pytest.raises(ReviewError, match=f"hit {first} is already confirmed"):
            reject_hit(ann, first, "ann")
        undo_decision(ann, second, "ann")
        with pytest.raises(ReviewError, match=f"hit {second} is pending"):
            undo_decision(ann, second, "ann")
    with db.session() as session:
        assert session.get(Hit, first).status == "confirmed"
        assert session.scalar(select(func.count()).select_from(HitDecision)) == 3


def test_works_delete_keeps_evidence(db: Database) -> None:
    """A work whose hits are pending or rejected is deleted with them; one with a confirmed
    hit is refused, and nothing is deleted."""
    first, second = _hits(db, 2)
    assert run_cli("hits", "confirm", str(first)).exit_code == 0
    refused = run_cli("works", "delete", "1")
    assert refused.exit_code == 1
    assert "work 1 has 1 hit kept as evidence" in refused.output
    assert run_cli("hits", "undo", str(first)).exit_code == 0
    assert run_cli("hits", "reject", str(second)).exit_code == 0
    deleted = run_cli("works", "delete", "1")
    assert deleted.exit_code == 0 and "Deleted work 1 '" in deleted.output
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Hit)) == 0
        assert session.scalar(select(func.count()).select_from(HitDecision)) == 0
    missing = run_cli("works", "delete", "1")
    assert missing.exit_code == 1 and "no work with id 1" in missing.output
