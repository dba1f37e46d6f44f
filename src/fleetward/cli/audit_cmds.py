"""``fleetward audit tail|verify``: read and check the tamper-evident audit log.

Both read the database directly (they work whether or not the hub runs) and never write
to it. ``verify`` exits 0 when the log is intact and 1 when it finds a problem, one line
per problem, so a cron job or a CI step can alert on it; bad usage still exits 2.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from fleetward.audit import SqlAuditStore, VerifyReport, audit_verify_keys, verify
from fleetward.cli.context import hub_of
from fleetward.cli.output import emit, plain

__all__ = ["audit_app"]

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
_COLS = ("seq", "at", "tenant_id", "actor", "action", "target", "outcome", "details")


@audit_app.command("tail")
def audit_tail(
    ctx: typer.Context,
    lines: Annotated[
        int, typer.Option("--lines", "-n", min=1, max=10_000, help="How many entries.")
    ] = 20,
    tenant: Annotated[
        str | None, typer.Option("--tenant", "-t", help="Only this tenant's entries.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Show the newest entries, oldest first."""
    entries = SqlAuditStore(hub_of(ctx).store.engine).tail(lines, tenant_id=tenant)
    if as_json:
        emit(entries, _COLS, as_json=True)
        return
    rows: list[dict[str, Any]] = []
    for entry in entries:
        row = plain(entry)
        row["details"] = " ".join(
            f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in sorted(entry.details.items())
        )
        rows.append(row)
    emit(rows, _COLS, as_json=False, title="Audit log")


@audit_app.command("verify")
def audit_verify(ctx: typer.Context, as_json: Json = False) -> None:
    """Check every entry's hash, the chain's links and the signed checkpoints.

    Exit status 0: intact. Exit status 1: each problem is printed on its own line.
    """
    hub = hub_of(ctx)
    store = SqlAuditStore(hub.store.engine)
    keys = audit_verify_keys(hub.settings.data_dir, hub.clock.now())
    # Checkpoints first: one read later, the entries they anchor are certainly there.
    checkpoints = store.checkpoints()
    report = verify(store.iter_entries(), checkpoints, keys)
    if as_json:
        sys.stdout.write(json.dumps(_as_json(report), indent=2) + "\n")
    else:
        for problem in report.problems:
            typer.echo(str(problem))
        if report.omitted:
            typer.echo(f"... and {report.omitted} more problems")
        typer.echo(_summary(report))
    if not report.ok:
        raise typer.Exit(1)


def _summary(report: VerifyReport) -> str:
    counts = (
        f"{report.entries} entries, {report.checkpoints} checkpoints, "
        f"anchored through seq {report.anchored_seq} ({report.unanchored} unanchored)"
    )
    if report.ok:
        return f"audit log intact: {counts}"
    found = len(report.problems) + report.omitted
    return f"audit log NOT intact: {found} problem{'s' if found != 1 else ''}; {counts}"


def _as_json(report: VerifyReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "entries": report.entries,
        "checkpoints": report.checkpoints,
        "last_seq": report.last_seq,
        "anchored_seq": report.anchored_seq,
        "unanchored": report.unanchored,
        "problems": [plain(p) for p in report.problems],
        "omitted": report.omitted,
    }
