"""The cohort record: bulk credential actions and every message they produced."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.base import EnumString, UTCDateTime, utcnow


class Kind(enum.StrEnum):
    """What a batch gives each person."""

    LINK = "link"  # a set-password link
    PASSWORD = "password"  # noqa: S105 (a kind of credential, not a password)
    PARENT_CODE = "parent-code"  # a student's parent code, for their parents to register


class Channel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"
    PRINT = "print"


class Route(enum.StrEnum):
    """How a delivery's address was chosen."""

    DIRECT = "direct"  # the person's own address
    FALLBACK = "fallback"  # the school's fallback email
    TEST_MODE = "test_mode"  # the school's test address, while test mode is on


class BatchStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting for a worker
    RUNNING = "running"  # a run holds the lease (runner, heartbeat_at)
    RETRYING = "retrying"  # some messages wait for a retry, or the run stopped on an error
    PAUSED = "paused"  # a relay quota is spent: continues by itself at resume_at
    FAILED = "failed"  # the channel cannot work as configured (error says why)
    AWAITING_PRINT = "awaiting_print"  # everyone left needs a printed slip
    DONE = "done"

    @property
    def finished(self) -> bool:
        """No run picks the batch up again (printing finishes an awaiting_print batch)."""
        return self in (BatchStatus.DONE, BatchStatus.AWAITING_PRINT)


class DeliveryStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # claimed by a run (attempt_id): its credential is issued
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"  # not sent, with the reason in error (e.g. no address: print)
    PRINTED = "printed"  # handed over on a printed slip

    @property
    def settled(self) -> bool:
        return self in (
            DeliveryStatus.SENT,
            DeliveryStatus.FAILED,
            DeliveryStatus.SKIPPED,
            DeliveryStatus.PRINTED,
        )


def _in(column: str, values: Sequence[str]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


class CredentialBatch(db.Model):
    __tablename__ = "credential_batches"
    __table_args__ = (
        CheckConstraint(_in("status", list(BatchStatus)), name="status_known"),
        CheckConstraint(_in("kind", list(Kind)), name="kind_known"),
        CheckConstraint(_in("channel", list(Channel)), name="channel_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # One bulk action per button press, however many times it is pressed.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id", ondelete="SET NULL"))
    kind: Mapped[Kind] = mapped_column(EnumString(Kind, 20))
    channel: Mapped[Channel] = mapped_column(EnumString(Channel, 20))
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[BatchStatus] = mapped_column(
        EnumString(BatchStatus, 20), default=BatchStatus.QUEUED
    )
    total: Mapped[int] = mapped_column(Integer, default=0)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The run that holds the batch, and when it last showed life: one runner at a time.
    runner: Mapped[str | None] = mapped_column(String(32))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why the batch stopped (a batch-level problem such as mail not configured).
    error: Mapped[str | None] = mapped_column(Text)
    # A paused batch (relay quota spent) continues by itself from this time.
    resume_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Delivery(db.Model):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("batch_id", "user_id", "channel"),
        CheckConstraint(_in("status", list(DeliveryStatus)), name="status_known"),
        Index("ix_deliveries_batch_id_status", "batch_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(
        ForeignKey("credential_batches.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    channel: Mapped[Channel] = mapped_column(EnumString(Channel, 20))
    address: Mapped[str | None] = mapped_column(String(254))
    status: Mapped[DeliveryStatus] = mapped_column(
        EnumString(DeliveryStatus, 20), default=DeliveryStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The run that claimed this delivery ('sending'); a stale claim means a crashed run.
    attempt_id: Mapped[str | None] = mapped_column(String(32))
    # Back-off after a temporary failure: not retried before this time.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How the address was chosen: 'direct', 'fallback' (school fallback email) or 'test_mode'.
    route: Mapped[Route | None] = mapped_column(EnumString(Route, 20))
