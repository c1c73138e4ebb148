"""`flask credentials ...`: bulk sending from the command line.

Every command acts as a named admin (`--as USERNAME`), never as an all-powerful system user:
the admin's school scope applies exactly as in the browser, and the audit trail names a
person. A shell user can pick any admin, but cannot exceed what that admin may do.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from webapp.cli_admins import cli_origin, resolve_admin, resolve_school
from webapp.delivery import batches
from webapp.delivery.progress import Progress, batch_progress
from webapp.extensions import db
from webapp.models import BatchStatus, CredentialBatch, Role, User, user_schools, utcnow
from webapp.services.errors import NotAllowed, PolicyError
from webapp.web.labels import when

credentials_cli = AppGroup("credentials", help="Send set-password links, passwords and codes.")

ROLES = [role.value for role in Role]


def _wait(batch: CredentialBatch) -> Progress:
    """Follow the batch with a progress bar until its run settles, saying what it waits for."""
    progress = batch_progress(batch)
    said = ""
    with click.progressbar(length=max(progress.total, 1), label="Sending") as bar:
        shown = 0
        waited = 0.0
        while True:
            db.session.commit()  # end the read transaction so new progress is visible
            db.session.refresh(batch)
            progress = batch_progress(batch)
            bar.update(progress.done - shown)
            shown = progress.done
            if batch.status not in (BatchStatus.QUEUED, BatchStatus.RUNNING):
                return progress
            news = _news(progress, waited, batch.school_id)
            if news and news != said:
                click.echo(f"\n  {news}")
                said = news
            time.sleep(0.5)
            waited += 0.5


def _news(progress: Progress, waited: float, school_id: int | None) -> str:
    """What the batch is waiting for, when it is waiting, in words."""
    now = utcnow()
    holder = progress.holder
    if holder and holder.seconds_since_seen(now) > 2 * _heartbeat():
        return (
            f"Waiting for the earlier run, silent for {holder.seconds_since_seen(now):.0f} s: "
            f"taking over in {holder.seconds_to_takeover(now):.0f} s unless it comes back."
        )
    if progress.status is BatchStatus.QUEUED and waited >= 10:
        return "Still queued: is a worker running (flask jobs worker)?"
    if progress.finish_estimate and waited >= 5:
        return f"Estimated finish: {when(progress.finish_estimate, school_id)}."
    return ""


def _heartbeat() -> float:
    return float(current_app.config["BATCH_HEARTBEAT_SECONDS"])


@credentials_cli.command("send")
@click.option("--as", "as_username", required=True, help="Admin username to act as.")
@click.option("--role", "roles", type=click.Choice(ROLES), multiple=True, required=True)
@click.option("--school", "school_ref", required=True, help="School id, SIS id or exact name.")
@click.option("--kind", type=click.Choice(batches.KINDS), default="link", show_default=True)
@click.option("--channel", type=click.Choice(batches.CHANNELS), default="email", show_default=True)
@click.option("--only-not-sent", is_flag=True, help="Only people never sent anything.")
@click.option("--only-not-active", is_flag=True, help="Only people not yet signed in.")
@click.option("--include-active", is_flag=True, help="Also reset people already active.")
@click.option("--dry-run", is_flag=True, help="Say who would get what, change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def send(**options: Any) -> None:
    """Send credentials to everyone with ROLE at SCHOOL."""
    with cli_origin():
        _send(**options)


def _send(
    as_username: str,
    roles: tuple[str, ...],
    school_ref: str,
    kind: str,
    channel: str,
    only_not_sent: bool,
    only_not_active: bool,
    include_active: bool,
    dry_run: bool,
    yes: bool,
) -> None:
    actor = resolve_admin(as_username)
    school = resolve_school(school_ref, actor)
    ids = list(
        db.session.scalars(
            select(User.id)
            .join(user_schools, user_schools.c.user_id == User.id)
            .where(user_schools.c.school_id == school.id, User.role.in_(roles))
            .order_by(User.id)
        )
    )
    options = {
        "only_never_sent": only_not_sent,
        "only_not_active": only_not_active,
        "include_active": include_active,
        "school_id": school.id,
    }
    try:
        plan = batches.preview(ids, kind, channel, options, actor)
    except (PolicyError, NotAllowed) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{school.name}: {len(ids)} {'/'.join(roles)} account(s) selected.")
    for reason, count in sorted(plan.excluded.items()):
        click.echo(f"  left out, {reason}: {count}")
    click.echo(f"  in the batch ({kind} by {channel}): {len(plan.recipients)}")
    for route, count in sorted(plan.by_route.items()):
        if route != "print":
            click.echo(f"    {channel} ({route}): {count}")
    printing = plan.needs_printing
    if printing:
        click.echo(f"  needs printing (no {channel} address): {len(printing)}")
        for user in printing[:20]:
            click.echo(f"    {user.username}")
        if len(printing) > 20:
            click.echo(f"    ... and {len(printing) - 20} more")
    if dry_run:
        click.echo("Dry run: nothing was sent.")
        db.session.rollback()
        return
    if not plan.recipients:
        click.echo("Nobody to send to.")
        return
    if not yes:
        click.confirm("Send now?", abort=True)
    options["idempotency_key"] = f"cli-{uuid.uuid4().hex}"
    batch = batches.send_credentials(ids, kind, channel, options, actor)
    print_only = batch.status is BatchStatus.AWAITING_PRINT  # before its job runs
    db.session.commit()
    click.echo(f"Batch {batch.id} created.")
    if print_only:
        click.echo("Nobody in it can be sent a message: every slip is to be printed.")
        _where_to_print(batch, as_username)
        return
    _report(batch, _wait(batch), as_username)


def _report(batch: CredentialBatch, progress: Progress, as_username: str) -> None:
    click.echo(
        f"Batch {batch.id} {batch.status}: {progress.sent} sent, {progress.failed} failed, "
        f"{progress.skipped} skipped ({progress.needs_printing} need printing), "
        f"{progress.waiting} waiting."
    )
    if batch.status in (BatchStatus.RETRYING, BatchStatus.PAUSED, BatchStatus.FAILED):
        if batch.error:
            click.echo(f"  Reason: {batch.error}")
        if batch.resume_at:
            click.echo(f"  It goes on by itself from {when(batch.resume_at, batch.school_id)}.")
        click.echo(f"  Resume now with: flask credentials resume {batch.id} --as {as_username}")
        _where_to_follow(batch)
    if progress.needs_printing or batch.status is BatchStatus.AWAITING_PRINT:
        _where_to_print(batch, as_username)


def _where_to_follow(batch: CredentialBatch) -> None:
    click.echo(f"  Follow it in the browser: {_base()}/admin/batches/{batch.id}")


def _where_to_print(batch: CredentialBatch, as_username: str) -> None:
    click.echo(
        f"  Print the slips from the batch's print page ({_base()}/admin/batches/{batch.id}/print)"
        f", or: flask credentials print {batch.id} --as {as_username} --out slips.pdf"
    )


def _base() -> str:
    return current_app.config["BASE_URL"].rstrip("/")


@credentials_cli.command("resume")
@click.argument("batch_id", type=int)
@click.option("--as", "as_username", required=True, help="Admin username to act as.")
def resume(batch_id: int, as_username: str) -> None:
    """Finish a batch an earlier run left unfinished."""
    with cli_origin():
        actor = resolve_admin(as_username)
        try:
            batch = batches.require_batch(actor, batch_id)
            batches.resume_batch(batch, actor)
        except NotAllowed as exc:
            raise click.ClickException("No such batch.") from exc
        db.session.commit()
        _report(batch, _wait(batch), as_username)


@credentials_cli.command("retry-failed")
@click.argument("batch_id", type=int)
@click.option("--as", "as_username", required=True, help="Admin username to act as.")
def retry_failed(batch_id: int, as_username: str) -> None:
    """Send again to the people a batch failed to reach."""
    with cli_origin():
        actor = resolve_admin(as_username)
        try:
            batch = batches.require_batch(actor, batch_id)
            count = batches.retry_failed(batch, actor)
        except NotAllowed as exc:
            raise click.ClickException("No such batch.") from exc
        db.session.commit()
        click.echo(f"{count} failed deliveries queued again.")
        if count:
            _report(batch, _wait(batch), as_username)
