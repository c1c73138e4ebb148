"""Messages handed to a mail or SMS relay, counted against its quota (webapp/delivery/quota.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.base import UTCDateTime


class RelaySend(db.Model):
    """One send slot taken; kept while a quota window can still count it (then purged)."""

    __tablename__ = "relay_sends"
    __table_args__ = (
        CheckConstraint("channel IN ('email', 'sms')", name="channel_known"),
        Index("ix_relay_sends_channel_sent_at", "channel", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
