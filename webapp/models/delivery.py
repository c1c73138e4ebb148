"""The cohort record: bulk credential actions and every message they produced."""

from __future__ import annotations

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
from webapp.models.base import UTCDateTime, utcnow


class CredentialBatch(db.Model):
    __tablename__ = "credential_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    # One bulk action per button press, however many times it is pressed.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(20))
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="queued")
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


class Delivery(db.Model):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("batch_id", "user_id", "channel"),
        CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'failed', 'skipped')", name="status_known"
        ),
        Index("ix_deliveries_batch_id_status", "batch_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(
        ForeignKey("credential_batches.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The run that claimed this delivery ('sending'); a stale claim means a crashed run.
    attempt_id: Mapped[str | None] = mapped_column(String(32))
    # Back-off after a temporary failure: not retried before this time.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How the address was chosen: 'direct', 'fallback' (school fallback email) or 'test_mode'.
    route: Mapped[str | None] = mapped_column(String(20))
