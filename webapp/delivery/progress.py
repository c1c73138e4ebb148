"""Where a batch stands, for the progress partial and the CLI: counts, pace, finish time."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from webapp.delivery import lease, quota
from webapp.delivery.policy import Skip
from webapp.extensions import db
from webapp.models import BatchStatus, Channel, CredentialBatch, Delivery, DeliveryStatus, utcnow

# The pace of the last few minutes predicts the rest of the batch.
_RECENT = timedelta(minutes=5)


@dataclass(frozen=True)
class Progress:
    status: BatchStatus
    total: int
    queued: int
    sending: int
    sent: int
    failed: int
    skipped: int
    printed: int
    needs_printing: int
    error: str | None
    resume_at: datetime | None
    finish_estimate: datetime | None  # None when finished or nothing predicts it
    holder: lease.Holder | None  # the run holding the batch

    @property
    def waiting(self) -> int:
        return self.queued + self.sending

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.skipped + self.printed

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100

    @property
    def finished(self) -> bool:
        return self.status.finished


def batch_progress(batch: CredentialBatch, now: datetime | None = None) -> Progress:
    """Count the batch's deliveries by status and estimate when it finishes."""
    now = now or utcnow()
    counts = dict(
        db.session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.batch_id == batch.id)
            .group_by(Delivery.status)
        ).all()
    )
    needs_printing = db.session.scalar(
        select(func.count()).where(
            Delivery.batch_id == batch.id,
            Delivery.status == DeliveryStatus.SKIPPED,
            Delivery.error == Skip.NO_ADDRESS,
        )
    )
    waiting = counts.get(DeliveryStatus.QUEUED, 0) + counts.get(DeliveryStatus.SENDING, 0)
    return Progress(
        status=batch.status,
        total=sum(counts.values()),
        queued=counts.get(DeliveryStatus.QUEUED, 0),
        sending=counts.get(DeliveryStatus.SENDING, 0),
        sent=counts.get(DeliveryStatus.SENT, 0),
        failed=counts.get(DeliveryStatus.FAILED, 0),
        skipped=counts.get(DeliveryStatus.SKIPPED, 0),
        printed=counts.get(DeliveryStatus.PRINTED, 0),
        needs_printing=needs_printing or 0,
        error=batch.error,
        resume_at=batch.resume_at,
        finish_estimate=_finish_estimate(batch, waiting, now),
        holder=lease.holder(batch.id),
    )


def _finish_estimate(batch: CredentialBatch, waiting: int, now: datetime) -> datetime | None:
    """When the waiting messages should be out, at the recent pace and within the quota."""
    if not waiting or batch.status.finished or batch.channel is Channel.PRINT:
        return None
    recent = db.session.scalar(
        select(func.count()).where(
            Delivery.batch_id == batch.id,
            Delivery.status == DeliveryStatus.SENT,
            Delivery.sent_at > now - _RECENT,
        )
    )
    limits = quota.limits_for(batch.channel)
    per_second = recent / _RECENT.total_seconds() if recent else None
    for limit in limits:
        allowed = limit.amount / limit.seconds
        per_second = min(per_second, allowed) if per_second else allowed
    if per_second is None:
        return None
    seconds = waiting / per_second
    for limit in limits:
        # A quota the rest does not fit into makes the batch wait for its windows to pass.
        room = max(limit.amount - quota.used(batch.channel, limit.seconds), 0)
        if waiting > room:
            seconds = max(seconds, math.ceil((waiting - room) / limit.amount) * limit.seconds)
    start = max(now, batch.resume_at) if batch.resume_at else now
    return start + timedelta(seconds=seconds)
