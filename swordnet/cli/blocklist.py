"""The ``blocklist`` commands: confirm and list a live restream, export the blocking list,
override a shared-infrastructure hold or withdraw an entry (with a reason, in the custody
log), refresh the CDN/cloud ranges from a file, and manage blocking platforms' clients."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from sqlalchemy.orm import Session

from swordnet.accounts.blocklist_clients import add_client, list_clients, revoke_client
from swordnet.cli.util import (
    ID,
    RegularFile,
    actor_option,
    console,
    emit,
    fail,
    in_unit,
    json_option,
)
from swordnet.core.models import BLOCK_KINDS, BlockEntry
from swordnet.core.timeutil import utcnow
from swordnet.live.blocklist import (
    ENTRY_STATES,
    EXPORT_FORMATS,
    confirm_and_list,
    entries,
    entry_state,
    export,
    override_shared,
    utc_iso,
    withdraw_entry,
)
from swordnet.live.infrastructure import load_ranges, stored_ranges

MAX_RANGES_FILE = 20 * 1024 * 1024
reason_option = click.option("--reason", required=True,
                             help="Why (recorded in the case's custody log).")


@click.group()
def blocklist() -> None:
    """The blocking list of confirmed live restreams: FQDNs and IPv4/IPv6 addresses."""


def entry_row(entry: BlockEntry) -> dict[str, Any]:
    """An entry as the CLI and API show it."""
    return {"id": entry.id, "kind": entry.kind, "value": entry.value,
            "state": entry_state(entry), "event_id": entry.event_id,
            "stream_id": entry.stream_id, "case_id": entry.case_id,
            "first_seen": utc_iso(entry.first_seen_at), "last_seen": utc_iso(entry.last_seen_at),
            "listed_at": utc_iso(entry.listed_at), "listed_by": entry.listed_by,
            "shared_infrastructure": entry.shared_infrastructure,
            "shared_reason": entry.shared_reason, "override_reason": entry.override_reason,
            "withdrawn_at": utc_iso(entry.withdrawn_at), "withdraw_reason": entry.withdraw_reason}


_COLUMNS = ("id", "kind", "value", "state", "event_id", "first_seen", "last_seen",
            "shared_reason")


def _print_entries(rows: list[dict[str, Any]], title: str) -> None:
    emit(rows, False, title, _COLUMNS)


@blocklist.command("confirm")
@click.argument("stream_id", type=ID)
@actor_option
def blocklist_confirm(stream_id: int, actor: str) -> None:
    """Confirm a matched live stream's hit and list its FQDN and addresses."""
    rows = in_unit(lambda s: [entry_row(e) for e in confirm_and_list(
        s, stream_id, actor=actor, at=utcnow())])
    _print_entries(rows, f"Live stream {stream_id}: listed")


@blocklist.command("list")
@click.option("--kind", type=click.Choice(BLOCK_KINDS))
@click.option("--state", type=click.Choice(ENTRY_STATES),
              help="listed, held (back as shared infrastructure) or withdrawn.")
@click.option("--event", "event_id", type=ID, help="Only this live event's entries.")
@json_option
def blocklist_list(kind: str | None, state: str | None, event_id: int | None,
                   as_json: bool) -> None:
    """Entries of the blocking list, newest change first, held-back ones included."""
    rows = in_unit(lambda s: [entry_row(e) for e in entries(s, kind=kind, state=state,
                                                            event_id=event_id)])
    emit(rows, as_json, "Blocking-list entries", _COLUMNS)


@blocklist.command("export")
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="csv",
              show_default=True)
@click.option("--kind", type=click.Choice(BLOCK_KINDS),
              help="Only this kind (required for txt: a text list is per kind).")
@click.option("--withdrawn", is_flag=True,
              help="txt only: the withdrawn addresses instead of the listed ones.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (default: standard output).")
def blocklist_export(fmt: str, kind: str | None, withdrawn: bool, output: Path | None) -> None:
    """The list as blocking platforms ingest it: CSV or JSON (withdrawals included, with
    withdrawn_at), or a plain-text list of one kind; times in UTC ISO-8601."""
    if output is not None and output.exists():
        fail(f"{output} already exists; choose another --output")
    body, _changed = in_unit(lambda s: export(s, fmt, kind, withdrawn))
    if output is None:
        click.echo(body, nl=False)
        return
    output.write_text(body, encoding="utf-8")
    console().print(f"Wrote {output}.")


@blocklist.command("override")
@click.argument("entry_id", type=ID)
@reason_option
@actor_option
def blocklist_override(entry_id: int, reason: str, actor: str) -> None:
    """List an address held back as shared infrastructure anyway."""
    row = in_unit(lambda s: entry_row(override_shared(s, entry_id, reason=reason, actor=actor,
                                                      at=utcnow())))
    console().print(f"Entry {entry_id} ({row['value']}) listed by override.")


@blocklist.command("withdraw")
@click.argument("entry_id", type=ID)
@reason_option
@actor_option
def blocklist_withdraw(entry_id: int, reason: str, actor: str) -> None:
    """Take an entry off the list (the withdrawal is exported too)."""
    row = in_unit(lambda s: entry_row(withdraw_entry(s, entry_id, reason=reason, actor=actor,
                                                     at=utcnow())))
    console().print(f"Entry {entry_id} ({row['value']}) withdrawn.")


@blocklist.group("ranges")
def ranges() -> None:
    """Networks of CDN and cloud providers: their addresses are shared infrastructure."""


@ranges.command("load")
@click.argument("path", type=RegularFile())
def ranges_load(path: Path) -> None:
    """Refresh providers' networks from a ranges file (JSON, format
    swordnet-infrastructure-ranges/1): each provider in it replaces its stored networks; a
    file with any problem changes nothing."""
    if path.stat().st_size > MAX_RANGES_FILE:
        fail(f"{path}: larger than {MAX_RANGES_FILE // 2**20} MiB; not a ranges file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        fail(f"{path}: not UTF-8 text; not a ranges file")

    def load(session: Session) -> list[str]:
        return [f"{p.provider}: {len(p.networks)} network(s), list of {p.as_of.isoformat()}"
                for p in load_ranges(session, text, at=utcnow())]

    for line in in_unit(load):
        console().print(line)


@ranges.command("list")
@json_option
def ranges_list(as_json: bool) -> None:
    """The stored provider networks."""
    rows = in_unit(lambda s: [{"provider": r.provider, "network": r.network,
                               "as_of": r.as_of.isoformat(), "source": r.source,
                               "loaded_at": utc_iso(r.loaded_at)} for r in stored_ranges(s)])
    emit(rows, as_json, "Infrastructure ranges", ("provider", "network", "as_of", "source"))


@blocklist.group("clients")
def clients() -> None:
    """Blocking platforms' clients: read-only tokens that read the list and nothing else."""


@clients.command("add")
@click.argument("name")
@actor_option
def clients_add(name: str, actor: str) -> None:
    """Create a client; its token is printed once."""
    secret = in_unit(lambda s: add_client(s, name, actor=actor).secret)
    console().print(f"Client {name.strip()!r} created. Its token (shown only now):")
    click.echo(secret)


@clients.command("revoke")
@click.argument("name")
@actor_option
def clients_revoke(name: str, actor: str) -> None:
    """Revoke a client: its token is refused from now on."""
    in_unit(lambda s: revoke_client(s, name, actor=actor))
    console().print(f"Client {name.strip()!r} revoked.")


@clients.command("list")
@json_option
def clients_list(as_json: bool) -> None:
    """Every client, revoked ones included."""
    rows = in_unit(lambda s: [{"name": c.name, "prefix": c.prefix,
                               "created_at": utc_iso(c.created_at), "created_by": c.created_by,
                               "revoked_at": utc_iso(c.revoked_at),
                               "last_used_at": utc_iso(c.last_used_at)}
                              for c in list_clients(s)])
    emit(rows, as_json, "Blocking-list clients",
         ("name", "prefix", "created_at", "revoked_at", "last_used_at"))
