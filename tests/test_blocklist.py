"""The blocking list: confirm and list, shared infrastructure held back until overridden with a
reason, withdrawals, exports, the auto-confirm rule, the ranges file and the CLI; on SQLite
and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from casefiles.custody import case_log_problem
from swordnet.core.config import Settings
from swordnet.core.db import Database
from swordnet.core.errors import BadInput, Conflict, NotFound
from swordnet.core.models import (
    BlockEntry,
    Case,
    CaseEvent,
    Hit,
    InfrastructureRange,
    LiveCheck,
    LiveStream,
)
from swordnet.live.blocklist import (
    auto_confirm,
    confirm_and_list,
    export,
    override_shared,
    record_seen,
    withdraw_entry,
)
from swordnet.live.infrastructure import RangesFileError, load_ranges, shipped_ranges
from tests.conftest import run_cli
from tests.live_rows import T0, add_capture, add_event, add_matched_stream, spread_domains

AT = T0 + timedelta(minutes=5)
CDN_IP = "104.16.1.1"  # in Cloudflare's shipped network 104.16.0.0/13


def _events(session, case_id: int) -> list[CaseEvent]:  # type: ignore[no-untyped-def]
    return list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)
                                .order_by(CaseEvent.seq)))


def _txt(db: Database, kind: str, withdrawn: bool = False) -> list[str]:
    with db.session() as session:
        return export(session, "txt", kind, withdrawn)[0].split()


def test_confirm_and_list_puts_the_fqdn_and_fetched_from_ips_on_the_list(db: Database) -> None:
    with db.session() as session:
        event = add_event(session)
        stream = add_matched_stream(session, event, "https://Live.Pirate.example/hls/cup.m3u8",
                                    ["203.0.113.7", "2001:db8::7", "::ffff:203.0.113.7"])
        stream_id, hit_id = stream.id, stream.hit_id
    with db.session() as session:
        listed = confirm_and_list(session, stream_id, actor="alice", at=AT)
        assert [(e.kind, e.value, e.listed_at is not None) for e in listed] == [
            ("fqdn", "live.pirate.example", True), ("ipv4", "203.0.113.7", True),
            ("ipv6", "2001:db8::7", True)]
    with db.session() as session:
        stream = session.get(LiveStream, stream_id)
        hit = session.get(Hit, hit_id)
        assert stream and hit and stream.state == "listed" and stream.listed_at == AT
        assert hit.status == "confirmed" and hit.reviewer == "alice" and hit.case_id
        events = _events(session, hit.case_id)
        assert [e.type for e in events] == ["case_opened", "hit_confirmed"] + \
            ["blocklist_listed"] * 3
        assert events[2].payload["value"] == "live.pirate.example"
        assert events[2].payload["first_seen"] == "2026-12-06T20:00:00Z"
        case = session.get(Case, hit.case_id)
        assert case and case_log_problem(session, case) is None
    assert _txt(db, "fqdn") == ["live.pirate.example"]
    assert _txt(db, "ipv4") == ["203.0.113.7"] and _txt(db, "ipv6") == ["2001:db8::7"]
    with db.session() as session:
        rows = list(csv.DictReader(io.StringIO(export(session, "csv")[0])))
        document = json.loads(export(session, "json")[0])
    ipv4 = next(r for r in rows if r["kind"] == "ipv4")
    assert ipv4 == {"kind": "ipv4", "value": "203.0.113.7", "status": "listed",
                    "first_seen": "2026-12-06T20:00:30Z", "last_seen": "2026-12-06T20:01:30Z",
                    "listed_at": "2026-12-06T20:05:00Z", "withdrawn_at": ""}
    assert [e["value"] for e in document["entries"]] == [r["value"] for r in rows]
    assert document["updated"] == "2026-12-06T20:05:00Z"


def test_a_stream_without_a_match_is_never_listed(db: Database) -> None:
    with db.session() as session:
        event = add_event(session)
        stream = add_matched_stream(session, event, "https://lawful.example/live.m3u8",
                                    ["198.51.100.1"], matched=False)
        stream_id = stream.id
    with db.session() as session, pytest.raises(Conflict, match="has no match"):
        confirm_and_list(session, stream_id, actor="alice", at=AT)
    with db.session() as session, pytest.raises(NotFound, match="no live stream with id 999"):
        confirm_and_list(session, 999, actor="alice", at=AT)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(BlockEntry)) == 0
        assert session.scalar(select(func.count()).select_from(Case)) == 0
        assert session.get(LiveStream, stream_id).state == "checking"  # type: ignore[union-attr]


def test_listing_twice_is_refused_and_a_rejected_match_is_not_listed(db: Database) -> None:
    with db.session() as session:
        event = add_event(session)
        once = add_matched_stream(session, event, "https://a.pirate.example/x.m3u8", [])
        rejected = add_matched_stream(session, event, "https://b.pirate.example/x.m3u8", [])
        session.get(Hit, rejected.hit_id).status = "rejected"  # type: ignore[union-attr]
        ids = once.id, rejected.id
    with db.session() as session:
        confirm_and_list(session, ids[0], actor="alice", at=AT)
    with db.session() as session, pytest.raises(Conflict, match="already listed"):
        confirm_and_list(session, ids[0], actor="bob", at=AT)
    with db.session() as session, pytest.raises(Conflict, match="rejected"):
        confirm_and_list(session, ids[1], actor="bob", at=AT)
    assert _txt(db, "fqdn") == ["a.pirate.example"]


def test_an_ip_in_a_cdn_range_is_held_back_until_overridden_with_a_reason(db: Database) -> None:
    with db.session() as session:
        event = add_event(session)
        stream = add_matched_stream(session, event, "https://cdn-hosted.pirate.example/a.m3u8",
                                    [CDN_IP])
        stream_id = stream.id
    with db.session() as session:
        listed = confirm_and_list(session, stream_id, actor="alice", at=AT)
        held = next(e for e in listed if e.kind == "ipv4")
        assert held.listed_at is None and held.shared_infrastructure
        assert "Cloudflare" in (held.shared_reason or "") and "104.16.0.0/13" in held.shared_reason
        held_id, case_id = held.id, held.case_id
    assert _txt(db, "fqdn") == ["cdn-hosted.pirate.example"] and _txt(db, "ipv4") == []
    with db.session() as session:
        assert CDN_IP not in export(session, "csv")[0] + export(session, "json")[0]
    with db.session() as session, pytest.raises(BadInput, match="reason"):
        override_shared(session, held_id, reason="  ", actor="bob", at=AT)
    assert _txt(db, "ipv4") == []
    with db.session() as session:
        override_shared(session, held_id, reason="dedicated IP per court order 12/2026",
                        actor="bob", at=AT + timedelta(minutes=1))
    assert _txt(db, "ipv4") == [CDN_IP]
    with db.session() as session:
        events = _events(session, case_id)  # type: ignore[arg-type]
        types = [e.type for e in events]
        assert "blocklist_held_back" in types and types[-1] == "blocklist_override"
        assert events[-1].payload["reason"] == "dedicated IP per court order 12/2026"
        assert events[-1].actor == "bob"
        entry = session.get(BlockEntry, held_id)
        assert entry and entry.override_by == "bob" and entry.listed_by == "bob"
    with db.session() as session, pytest.raises(Conflict, match="already listed"):
        override_shared(session, held_id, reason="again", actor="bob", at=AT)


def test_an_address_serving_many_unrelated_domains_is_shared(db: Database) -> None:
    with db.session() as session:
        event = add_event(session)
        spread_domains(session, "198.51.100.9", 4)  # with the stream's own site: five
        spread_domains(session, "198.51.100.10", 3)
        busy = add_matched_stream(session, event, "https://one.pirate.example/a.m3u8",
                                  ["198.51.100.9"])
        quiet = add_matched_stream(session, event, "https://two.pirate.example/a.m3u8",
                                   ["198.51.100.10"])
        ids = busy.id, quiet.id
    with db.session() as session:
        [_, held] = confirm_and_list(session, ids[0], actor="alice", at=AT)
        assert held.listed_at is None and "serves 5 unrelated domains" in (held.shared_reason
                                                                           or "")
        [_, listed] = confirm_and_list(session, ids[1], actor="alice", at=AT)
        assert listed.listed_at is not None and not listed.shared_infrastructure
    assert _txt(db, "ipv4") == ["198.51.100.10"]
    assert _txt(db, "fqdn") == ["one.pirate.example", "two.pirate.example"]


def test_a_withdrawal_is_exported_and_recorded(db: Database) -> None:
    with db.session() as session:
        event = add_event(session)
        stream = add_matched_stream(session, event, "https://gone.pirate.example/a.m3u8",
                                    ["203.0.113.20"])
        stream_id = stream.id
    with db.session() as session:
        fqdn, ip = confirm_and_list(session, stream_id, actor="alice", at=AT)
        ids, case_id = (fqdn.id, ip.id), fqdn.case_id
    with db.session() as session, pytest.raises(BadInput, match="reason"):
        withdraw_entry(session, ids[0], reason="", actor="bob", at=AT)
    later = AT + timedelta(hours=1)
    with db.session() as session:
        withdraw_entry(session, ids[0], reason="lawful licensee's relay", actor="bob", at=later)
    assert _txt(db, "fqdn") == [] and _txt(db, "fqdn", withdrawn=True) == ["gone.pirate.example"]
    with db.session() as session:
        rows = {r["value"]: r for r in csv.DictReader(io.StringIO(export(session, "csv")[0]))}
        document = json.loads(export(session, "json")[0])
        assert session.get(LiveStream, stream_id).state == "listed"  # type: ignore[union-attr]
    assert rows["gone.pirate.example"]["status"] == "withdrawn"
    assert rows["gone.pirate.example"]["withdrawn_at"] == "2026-12-06T21:05:00Z"
    assert rows["203.0.113.20"]["withdrawn_at"] == ""
    assert {e["value"]: e["withdrawn_at"] for e in document["entries"]} == {
        "gone.pirate.example": "2026-12-06T21:05:00Z", "203.0.113.20": None}
    with db.session() as session:
        withdraw_entry(session, ids[1], reason="same", actor="bob", at=later)
    with db.session() as session:
        assert session.get(LiveStream, stream_id).state == "withdrawn"  # type: ignore[union-attr]
        events = _events(session, case_id)  # type: ignore[arg-type]
        assert [e.type for e in events][-2:] == ["blocklist_withdrawn"] * 2
        assert events[-2].payload["reason"] == "lawful licensee's relay"
    with db.session() as session, pytest.raises(Conflict, match="already withdrawn"):
        withdraw_entry(session, ids[0], reason="again", actor="bob", at=later)


def test_an_address_listed_for_two_events_stays_listed_until_both_withdraw(
        db: Database) -> None:
    with db.session() as session:
        first, second = add_event(session, "Final"), add_event(session, "Semi-final")
        ids = [add_matched_stream(session, e, "https://same.pirate.example/a.m3u8", []).id
               for e in (first, second)]
    with db.session() as session:
        entry_ids = [confirm_and_list(session, i, actor="alice", at=AT)[0].id for i in ids]
    with db.session() as session:
        withdraw_entry(session, entry_ids[0], reason="wrong event", actor="bob", at=AT)
    assert _txt(db, "fqdn") == ["same.pirate.example"] and _txt(db, "fqdn", True) == []


def test_the_auto_confirm_rule_lists_near_exact_matches_only(db: Database) -> None:
    with db.session() as session:
        ruled = add_event(session, "Final", auto_confirm_score=0.9, auto_confirm_set_by="carol")
        unruled = add_event(session, "Gala")
        close = add_matched_stream(session, ruled, "https://close.pirate.example/a.m3u8", [],
                                   score=0.93)
        far = add_matched_stream(session, ruled, "https://far.pirate.example/a.m3u8", [],
                                 score=0.7)
        free = add_matched_stream(session, unruled, "https://free.pirate.example/a.m3u8", [],
                                  score=0.99)
        ids = close.id, far.id, free.id
    with db.session() as session:
        assert auto_confirm(session, ids[1], at=AT) is None
        assert auto_confirm(session, ids[2], at=AT) is None
        [entry] = auto_confirm(session, ids[0], at=AT) or []
        assert entry.value == "close.pirate.example"
        assert "rule of live event" in (entry.listed_by or "") and "carol" in entry.listed_by
    with db.session() as session:
        hit = session.scalar(select(Hit).where(Hit.url.like("https://close.%")))
        assert hit and hit.status == "confirmed"
        confirmed = session.scalar(select(CaseEvent).where(CaseEvent.type == "hit_confirmed"))
        assert confirmed and confirmed.payload["automatic"] is True
        assert "0.930 >= 0.9" in confirmed.payload["reason"] and "carol" in confirmed.actor
        assert auto_confirm(session, ids[0], at=AT) is None  # listed already
    assert _txt(db, "fqdn") == ["close.pirate.example"]


def test_a_quarantined_match_waits_for_a_reviewer(db: Database) -> None:
    with db.session() as session:
        event = add_event(session, auto_confirm_score=0.5, auto_confirm_set_by="carol")
        stream = add_matched_stream(session, event, "https://q.pirate.example/a.m3u8", [])
        session.get(Hit, stream.hit_id).quarantined = True  # type: ignore[union-attr]
        stream_id = stream.id
    with db.session() as session:
        assert auto_confirm(session, stream_id, at=AT) is None
    assert _txt(db, "fqdn") == []


def test_a_listed_stream_seen_again_extends_last_seen_and_lists_its_new_address(
        db: Database) -> None:
    with db.session() as session:
        event = add_event(session)
        stream = add_matched_stream(session, event, "https://hop.pirate.example/a.m3u8",
                                    ["203.0.113.30"])
        stream_id = stream.id
    with db.session() as session:
        confirm_and_list(session, stream_id, actor="alice", at=AT)
    later = AT + timedelta(minutes=10)
    with db.session() as session:
        capture = add_capture(session, "https://hop.pirate.example/seg9.ts", "203.0.113.31",
                              later)
        session.add(LiveCheck(stream_id=stream_id, checked_at=later, outcome="matched",
                              detail={}, segment_capture_id=capture.id))
        session.get(LiveStream, stream_id).last_checked_at = later  # type: ignore[union-attr]
    with db.session() as session:
        record_seen(session, stream_id, actor="live checker", at=later)
    assert _txt(db, "ipv4") == ["203.0.113.30", "203.0.113.31"]
    with db.session() as session:
        rows = {r["value"]: r for r in csv.DictReader(io.StringIO(export(session, "csv")[0]))}
    assert rows["hop.pirate.example"]["last_seen"] == "2026-12-06T20:15:00Z"


def test_the_shipped_ranges_are_loaded_with_their_date_and_source(db: Database) -> None:
    shipped = shipped_ranges()
    assert {p.provider for p in shipped} == {"Cloudflare", "Fastly"}
    with db.session() as session:
        rows = session.scalars(select(InfrastructureRange)).all()
        assert len(rows) == sum(len(p.networks) for p in shipped)
        cloudflare = next(r for r in rows if r.provider == "Cloudflare")
        assert cloudflare.source.startswith("https://www.cloudflare.com/ips-v4")
        assert cloudflare.as_of.isoformat() == "2024-06-25"


GOOD_RANGES = {"format": "swordnet-infrastructure-ranges/1", "providers": [
    {"provider": "Cloudflare", "source": "https://www.cloudflare.com/ips-v4",
     "as_of": "2026-12-01", "networks": ["173.245.48.0/20"]},
    {"provider": "Test CDN", "source": "https://cdn.example/ranges", "as_of": "2026-12-02",
     "networks": ["192.0.2.0/24", "2001:db8:ff::/48"]}]}


def _bad(**change: object) -> dict[str, object]:
    provider = {**GOOD_RANGES["providers"][1], **change}  # type: ignore[index]
    return {**GOOD_RANGES, "providers": [provider]}


@pytest.mark.parametrize(("document", "message"), [
    ("not json at all", "not JSON"),
    ({"providers": []}, "format"),
    ({**GOOD_RANGES, "providers": []}, "non-empty list"),
    (_bad(networks=["192.0.2.1/24"]), "not a network"),
    (_bad(networks=[]), "networks"),
    (_bad(as_of="yesterday"), "as_of"),
    (_bad(source="ftp://cdn.example/x"), "source"),
    ({**GOOD_RANGES, "providers": GOOD_RANGES["providers"] * 2}, "named twice"),
])
def test_a_bad_ranges_file_changes_nothing(db: Database, document: object,
                                           message: str) -> None:
    text = document if isinstance(document, str) else json.dumps(document)
    with db.session() as session:
        before = session.scalar(select(func.count()).select_from(InfrastructureRange))
    with db.session() as session, pytest.raises(RangesFileError, match=message):
        load_ranges(session, text, at=AT)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(InfrastructureRange)) == before


def test_a_ranges_file_replaces_its_providers_networks(db: Database) -> None:
    with db.session() as session:
        load_ranges(session, json.dumps(GOOD_RANGES), at=AT)
    with db.session() as session:
        networks = {(r.provider, r.network) for r in session.scalars(select(InfrastructureRange))}
        assert ("Cloudflare", "173.245.48.0/20") in networks
        assert ("Cloudflare", "104.16.0.0/13") not in networks  # replaced
        assert ("Fastly", "151.101.0.0/16") in networks  # kept
        assert ("Test CDN", "2001:db8:ff::/48") in networks
        event = add_event(session)
        stream = add_matched_stream(session, event, "https://v6.pirate.example/a.m3u8",
                                    ["2001:db8:ff::5", CDN_IP])
        stream_id = stream.id
    with db.session() as session:
        by_value = {e.value: e for e in confirm_and_list(session, stream_id, actor="a", at=AT)}
        assert "Test CDN" in (by_value["2001:db8:ff::5"].shared_reason or "")
        assert by_value[CDN_IP].listed_at is not None  # no longer in Cloudflare's list


# --- the command line ---------------------------------------------------------------------------

def test_cli_confirm_export_override_withdraw_and_ranges(home: Settings, db: Database,
                                                         tmp_path: Path) -> None:
    with db.session() as session:
        event = add_event(session)
        stream_id = add_matched_stream(session, event, "https://cli.pirate.example/a.m3u8",
                                       ["203.0.113.40", CDN_IP]).id
    result = run_cli("blocklist", "confirm", str(stream_id), "--actor", "alice")
    assert result.exit_code == 0, result.output
    assert run_cli("blocklist", "export", "--format", "txt", "--kind", "ipv4").output == \
        "203.0.113.40\n"
    held = json.loads(run_cli("blocklist", "list", "--state", "held", "--json").output)
    assert [h["value"] for h in held] == [CDN_IP] and "Cloudflare" in held[0]["shared_reason"]
    refused = run_cli("blocklist", "override", str(held[0]["id"]), "--reason", " ")
    assert refused.exit_code == 1 and "reason" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    result = run_cli("blocklist", "override", str(held[0]["id"]), "--reason", "court order 7",
                     "--actor", "bob")
    assert result.exit_code == 0, result.output
    fqdn = json.loads(run_cli("blocklist", "list", "--kind", "fqdn", "--json").output)[0]
    assert run_cli("blocklist", "withdraw", str(fqdn["id"]), "--reason", "relay").exit_code == 0
    assert run_cli("blocklist", "export", "--format", "txt", "--kind", "fqdn",
                   "--withdrawn").output == "cli.pirate.example\n"
    out = tmp_path / "list.json"
    assert run_cli("blocklist", "export", "--format", "json", "-o", str(out)).exit_code == 0
    assert {e["value"]: e["status"] for e in json.loads(out.read_text())["entries"]} == {
        "cli.pirate.example": "withdrawn", "203.0.113.40": "listed", CDN_IP: "listed"}
    for args, named in ((["--format", "txt"], "kind"), (["--kind", "ipv5"], "ipv5"),
                        (["--format", "csv", "--withdrawn"], "withdrawn")):
        bad = run_cli("blocklist", "export", *args)
        assert bad.exit_code != 0 and named in bad.output
    bad_file = tmp_path / "ranges.json"
    bad_file.write_text(json.dumps(_bad(networks=["10.0.0.1/8"])))
    before = run_cli("blocklist", "ranges", "list", "--json").output
    result = run_cli("blocklist", "ranges", "load", str(bad_file))
    assert result.exit_code == 1 and "not a network" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert run_cli("blocklist", "ranges", "list", "--json").output == before
    bad_file.write_text(json.dumps(GOOD_RANGES))
    result = run_cli("blocklist", "ranges", "load", str(bad_file))
    assert result.exit_code == 0 and "Test CDN: 2 network(s)" in result.output


def test_cli_clients_add_list_revoke(home: Settings, db: Database) -> None:
    added = run_cli("blocklist", "clients", "add", "ISP One", "--actor", "alice")
    assert added.exit_code == 0, added.output
    secret = added.output.strip().splitlines()[-1]
    assert secret.startswith("swb_")
    [client] = json.loads(run_cli("blocklist", "clients", "list", "--json").output)
    assert client["name"] == "ISP One" and client["revoked_at"] is None
    assert secret.startswith(client["prefix"]) and secret not in json.dumps(client)
    again = run_cli("blocklist", "clients", "add", "ISP One")
    assert again.exit_code == 1 and "already exists" in again.output
    assert run_cli("blocklist", "clients", "revoke", "ISP One").exit_code == 0
    twice = run_cli("blocklist", "clients", "revoke", "ISP One")
    assert twice.exit_code == 1 and "already revoked" in twice.output
    unknown = run_cli("blocklist", "clients", "revoke", "Nobody")
    assert unknown.exit_code == 1 and "no blocking-list client" in unknown.output


def test_two_streams_on_one_host_share_its_entry(db: Database) -> None:
    with db.session() as session:
        event = add_event(session)
        ids = [add_matched_stream(session, event, f"https://cdn.pirate.example/{n}.m3u8", [],
                                  page_url=f"https://page{n}.pirate.example/").id
               for n in range(2)]
    with db.session() as session:
        [first] = confirm_and_list(session, ids[0], actor="alice", at=AT)
        [second] = confirm_and_list(session, ids[1], actor="alice", at=AT)
        assert first.id == second.id and second.stream_id == ids[0]
        listed = session.scalars(select(CaseEvent).where(CaseEvent.type == "blocklist_listed")
                                 .order_by(CaseEvent.id)).all()
        assert [(e.payload["value"], e.payload["stream_id"]) for e in listed] == [
            ("cdn.pirate.example", ids[0]), ("cdn.pirate.example", ids[1])]
        assert listed[1].payload["entered_for_stream"] == ids[0]
        assert listed[0].case_id != listed[1].case_id  # each page site's own case
        assert session.get(LiveStream, ids[1]).state == "listed"  # type: ignore[union-attr]
    assert _txt(db, "fqdn") == ["cdn.pirate.example"]
