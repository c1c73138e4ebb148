"""The delivery log an admin reads: batches newest first, each person's delivery, CSV.

Pages go by id (keyset), so they stay fast however many batches and deliveries there are.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from sqlalchemy import select

from webapp.csv_safe import SafeWriter
from webapp.extensions import db
from webapp.models import BatchStatus, CredentialBatch, Delivery, DeliveryStatus, Role, User
from webapp.services import audit, scope

BATCHES_PER_PAGE = 50
DELIVERIES_PER_PAGE = 100
CSV_COLUMNS = ("username", "given_name", "family_name", "channel", "address", "route",
               "status", "attempts", "error", "sent_at")  # fmt: skip


@dataclass(frozen=True)
class Page:
    rows: list
    next_after: int | None  # the id to continue after, when there is more


def batches_for(actor: User, *, before: int | None = None) -> Page:
    """Batches the actor may see, newest first: every batch for a district-wide admin,
    otherwise those of their schools."""
    query = select(CredentialBatch).order_by(CredentialBatch.id.desc())
    if not (actor.role == Role.ADMIN and actor.district_wide):
        query = query.where(CredentialBatch.school_id.in_(scope.visible_school_ids(actor)))
    if before is not None:
        query = query.where(CredentialBatch.id < before)
    rows = list(db.session.scalars(query.limit(BATCHES_PER_PAGE + 1)))
    more = len(rows) > BATCHES_PER_PAGE
    rows = rows[:BATCHES_PER_PAGE]
    return Page(rows, rows[-1].id if more else None)


def requesters(batches: list[CredentialBatch]) -> dict[int, str]:
    """Usernames of the people who asked for these batches."""
    ids = {b.requested_by_id for b in batches if b.requested_by_id}
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())


def deliveries_of(
    batch: CredentialBatch, *, status: DeliveryStatus | None = None, after: int | None = None
) -> Page:
    """The batch's deliveries with their people, in order, optionally of one status."""
    query = (
        select(Delivery, User)
        .join(User, User.id == Delivery.user_id)
        .where(Delivery.batch_id == batch.id)
        .order_by(Delivery.id)
    )
    if status is not None:
        query = query.where(Delivery.status == status)
    if after is not None:
        query = query.where(Delivery.id > after)
    rows = list(db.session.execute(query.limit(DELIVERIES_PER_PAGE + 1)).tuples())
    more = len(rows) > DELIVERIES_PER_PAGE
    rows = rows[:DELIVERIES_PER_PAGE]
    return Page(rows, rows[-1][0].id if more else None)


def deliveries_csv(batch: CredentialBatch, actor: User) -> str:
    """Every delivery of the batch as CSV (addresses and outcomes, never a credential);
    audited, the caller commits."""
    out = io.StringIO()
    writer = SafeWriter(out)
    writer.writerow(CSV_COLUMNS)
    rows = db.session.execute(
        select(Delivery, User)
        .join(User, User.id == Delivery.user_id)
        .where(Delivery.batch_id == batch.id)
        .order_by(Delivery.id)
        .execution_options(yield_per=1000)
    ).tuples()
    count = 0
    for delivery, user in rows:
        count += 1
        writer.writerow(
            [
                user.username,
                user.given_name,
                user.family_name,
                delivery.channel.value,
                delivery.address or "",
                delivery.route.value if delivery.route else "",
                delivery.status.value,
                delivery.attempts,
                delivery.error or "",
                delivery.sent_at.strftime("%Y-%m-%d %H:%M:%S") if delivery.sent_at else "",
            ]
        )
    audit.record(actor, "export_downloaded", batch, kind="deliveries", rows=count)
    return out.getvalue()


NEEDS_ATTENTION = (BatchStatus.FAILED, BatchStatus.PAUSED, BatchStatus.RETRYING,
                   BatchStatus.AWAITING_PRINT)  # fmt: skip


def needing_attention(actor: User, limit: int = 5) -> list[CredentialBatch]:
    """Batches that wait on someone: stopped, paused, waiting to print, or with failures."""
    query = (
        select(CredentialBatch)
        .where(
            CredentialBatch.status.in_(NEEDS_ATTENTION)
            | ((CredentialBatch.status == BatchStatus.DONE) & (CredentialBatch.failed > 0))
        )
        .order_by(CredentialBatch.id.desc())
        .limit(limit)
    )
    if not (actor.role == Role.ADMIN and actor.district_wide):
        query = query.where(CredentialBatch.school_id.in_(scope.visible_school_ids(actor)))
    return list(db.session.scalars(query))
