"""One run at a time per batch: a short lease, kept alive by a heartbeat.

A run takes the batch's lease (runner, heartbeat_at) and renews it every
BATCH_HEARTBEAT_SECONDS. A run killed outright stops renewing: once BATCH_LEASE_SECONDS
have passed since its last heartbeat, another run may take the batch over, and its
deliveries left 'sending' go back in the queue (their credentials are issued afresh, so
whatever the dead run may have sent stops working). A run that finds its lease taken
stops at once (LeaseLost) without writing anything more.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, or_, select, update

from webapp.extensions import db
from webapp.models import BatchStatus, CredentialBatch, Delivery, DeliveryStatus, utcnow

_FINISHED = [status for status in BatchStatus if status.finished]


class LeaseLost(Exception):
    """Another run took the batch over: this one must stop without writing."""


@dataclass(frozen=True)
class Holder:
    """The run holding a batch, as another run or the CLI sees it."""

    heartbeat_at: datetime
    lease_ends_at: datetime

    def seconds_since_seen(self, now: datetime) -> float:
        return max((now - self.heartbeat_at).total_seconds(), 0.0)

    def seconds_to_takeover(self, now: datetime) -> float:
        return max((self.lease_ends_at - now).total_seconds(), 0.0)


@dataclass
class Lease:
    batch_id: int
    runner: str
    beaten: float = field(default_factory=time.monotonic)

    def beat(self, *, force: bool = False) -> None:
        """Renew the lease in the caller's transaction when a heartbeat is due."""
        if not force and time.monotonic() - self.beaten < _seconds("BATCH_HEARTBEAT_SECONDS"):
            return
        renewed = db.session.execute(
            update(CredentialBatch)
            .where(CredentialBatch.id == self.batch_id, CredentialBatch.runner == self.runner)
            .values(heartbeat_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if renewed.rowcount != 1:
            raise LeaseLost(f"batch {self.batch_id} was taken over by another run")
        self.beaten = time.monotonic()

    def release(
        self, status: BatchStatus, error: str | None, resume_at: datetime | None = None
    ) -> None:
        """Let go of the batch, saying where it stands; the caller commits."""
        db.session.execute(
            update(CredentialBatch)
            .where(CredentialBatch.id == self.batch_id, CredentialBatch.runner == self.runner)
            .values(
                runner=None,
                status=status,
                error=error,
                resume_at=resume_at,
                finished_at=utcnow() if status is BatchStatus.DONE else None,
            )
            .execution_options(synchronize_session=False)
        )


def _seconds(setting: str) -> float:
    return float(current_app.config[setting])


def acquire(batch_id: int) -> Lease | None:
    """Take the batch's lease, unless a live run holds it or the batch is finished."""
    now = utcnow()
    runner = secrets.token_hex(8)
    stale = now - timedelta(seconds=_seconds("BATCH_LEASE_SECONDS"))
    taken = db.session.execute(
        update(CredentialBatch)
        .where(
            CredentialBatch.id == batch_id,
            CredentialBatch.status.not_in(_FINISHED),
            or_(CredentialBatch.runner.is_(None), CredentialBatch.heartbeat_at < stale),
        )
        .values(
            runner=runner,
            heartbeat_at=now,
            status=BatchStatus.RUNNING,
            resume_at=None,
            started_at=func.coalesce(CredentialBatch.started_at, now),
        )
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        db.session.commit()
        return None
    # Only this run may send now: whatever an earlier run left 'sending' goes back in line.
    db.session.execute(
        update(Delivery)
        .where(Delivery.batch_id == batch_id, Delivery.status == DeliveryStatus.SENDING)
        .values(status=DeliveryStatus.QUEUED, attempt_id=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return Lease(batch_id, runner)


def holder(batch_id: int) -> Holder | None:
    """Who holds the batch now, or None."""
    row = db.session.execute(
        select(CredentialBatch.runner, CredentialBatch.heartbeat_at).where(
            CredentialBatch.id == batch_id
        )
    ).one_or_none()
    if row is None or row.runner is None or row.heartbeat_at is None:
        return None
    lease = timedelta(seconds=_seconds("BATCH_LEASE_SECONDS"))
    return Holder(row.heartbeat_at, row.heartbeat_at + lease)


def acquire_or_wait(batch_id: int, sleep: Callable[[float], None]) -> Lease | None:
    """Take the lease, waiting out a silent holder's lease; None if a live run has it.

    A holder that beats while we wait is alive and will finish the batch itself.
    """
    while True:
        lease = acquire(batch_id)
        if lease is not None:
            return lease
        seen = holder(batch_id)
        if seen is None:  # finished meanwhile, or no such batch
            return None
        sleep(seen.seconds_to_takeover(utcnow()) + 0.5)
        db.session.commit()  # see the holder's latest heartbeat
        again = holder(batch_id)
        if again is not None and again.heartbeat_at != seen.heartbeat_at:
            return None
