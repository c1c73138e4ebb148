"""The batch job: issue and send a batch's credentials, resumable after a crash.

    claim a chunk of due deliveries: issue each person's credential, mark them 'sending'
    for each: wait for the relay quota, render, send, record the outcome and its audit
        event, commit
    when nothing is due: wait for retries that are due soon, else let the batch go

Guarantees after a crash (kill -9 of the worker, at any instruction):
- Nobody is skipped: every delivery ends sent, failed (with a reason), skipped (with a
  reason), or stays queued for the next run; a resume takes a dead run's batch over once
  its lease runs out (webapp/delivery/lease.py).
- Only the message in flight can be repeated: each outcome is committed before the next
  message goes. That person gets two messages; the credential in the first no longer
  works, the one in the last does.
- People claimed but not yet sent had their older credential rotated and get a new one
  from the next run.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from webapp.delivery import codes, email, links, policy, quota, sms, temp_passwords
from webapp.delivery.lease import Lease, LeaseLost, acquire_or_wait
from webapp.delivery.messages import Prepared
from webapp.delivery.outcomes import DeliveryConfigError, Result
from webapp.delivery.policy import Address, Skip
from webapp.extensions import db
from webapp.jobs import job
from webapp.models import (
    BatchStatus,
    Channel,
    CredentialBatch,
    Delivery,
    DeliveryStatus,
    Kind,
    User,
    utcnow,
)
from webapp.services import audit, settings
from webapp.services.audit import Actor

# Statuses of deliveries still to send.
_WAITING = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING)


@job
def process_batch(batch_id: int) -> str:
    """Send a batch's due deliveries; safe to run again at any time."""
    lease = acquire_or_wait(batch_id, _sleep)
    if lease is None:
        return "busy"
    try:
        return BatchRun(db.session.get(CredentialBatch, batch_id), lease).run()
    except LeaseLost:
        db.session.rollback()
        return "taken over"
    except BaseException:
        db.session.rollback()
        lease.release(BatchStatus.RETRYING, "the run stopped with an error")
        db.session.commit()
        raise


@dataclass(frozen=True)
class Claimed:
    """One delivery this run marked 'sending', with the message it is to carry."""

    delivery_id: int
    user_id: int
    attempts: int
    message: Prepared


class Stop(Exception):
    """The run stops early: the batch is left in `status` until `resume_at`."""

    def __init__(self, status: BatchStatus, reason: str, resume_at: datetime | None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.resume_at = status, reason, resume_at


class Pace:
    """Waits before each message while the relay asks to slow down, then speeds up again."""

    def __init__(self, first: float, most: float) -> None:
        self.first, self.most = first, most
        self.gap = 0.0
        self.refusals_at_most = 0  # slow-down replies in a row at the longest wait

    def slow_down(self) -> None:
        self.refusals_at_most = self.refusals_at_most + 1 if self.gap >= self.most else 0
        self.gap = min(max(self.gap * 2, self.first), self.most)

    def accepted(self) -> None:
        self.refusals_at_most = 0
        self.gap = self.gap / 2 if self.gap > self.first else 0.0


class BatchRun:
    """One run of a batch's job, holding its lease."""

    def __init__(self, batch: CredentialBatch, lease: Lease) -> None:
        cfg = current_app.config
        self.batch_id = batch.id
        self.kind = Kind(batch.kind)
        self.channel = Channel(batch.channel)
        self.school_id = batch.school_id
        # Links are invites unless the batch says reset (the forgot-password page).
        self.purpose = (batch.options or {}).get("purpose") or "invite"
        self.actor: Actor = _requester(batch)
        self.lease = lease
        self.attempt = secrets.token_hex(8)
        self.pace = Pace(cfg["DELIVERY_THROTTLE_FIRST_WAIT"], cfg["DELIVERY_THROTTLE_MAX_WAIT"])

    def run(self) -> str:
        try:
            sender = _sender(self.channel)
        except DeliveryConfigError as exc:
            return self._finish(BatchStatus.FAILED, str(exc))
        try:
            self._send_all(sender)
        except Stop as stop:
            return self._finish(stop.status, stop.reason, stop.resume_at)
        finally:
            sender.close()
        if _count(self.batch_id, _WAITING):
            return self._finish(
                BatchStatus.RETRYING, "waiting to retry", _next_retry(self.batch_id)
            )
        # A reset link asked for on the forgot-password page is never printed instead.
        needs_printing = self.purpose == "invite" and _count_skipped(self.batch_id, Skip.NO_ADDRESS)
        return self._finish(BatchStatus.AWAITING_PRINT if needs_printing else BatchStatus.DONE)

    def _send_all(self, sender: Any) -> None:
        cfg = current_app.config
        while True:
            chunk = self._claim()
            if chunk:
                for n, claimed in enumerate(chunk):
                    try:
                        self._send_one(sender, claimed)
                    except Stop:
                        self._unclaim(chunk[n:])
                        raise
                continue
            wait = _seconds_to_next_retry(self.batch_id)
            longest = max([*cfg["DELIVERY_RETRY_DELAYS"], cfg["DELIVERY_THROTTLE_MAX_WAIT"]])
            if wait is None or wait > longest:
                return
            sender.close()  # no idle connection held through the wait
            self._wait(wait)

    # -- claiming ---------------------------------------------------------------------

    def _claim(self) -> list[Claimed]:
        """Claim the next due deliveries and issue their credentials, in one commit."""
        now = utcnow()
        due = db.session.execute(
            select(Delivery.id, Delivery.user_id, Delivery.attempts)
            .where(
                Delivery.batch_id == self.batch_id,
                Delivery.status == DeliveryStatus.QUEUED,
                (Delivery.next_attempt_at.is_(None)) | (Delivery.next_attempt_at <= now),
            )
            .order_by(Delivery.id)
            .limit(current_app.config["DELIVERY_CHUNK_SIZE"])
        ).all()
        if not due:
            return []
        people = _load_people([row.user_id for row in due])
        ready: list[tuple[Any, User, Address, dict[str, Any]]] = []
        per_number: Counter[str] = Counter()  # SMS to each number claimed in this chunk
        cache: dict = {}
        for row in due:
            user = people[row.user_id]
            cfg = settings.for_user(user, cache)
            decision = policy.address_at_send(
                user, self.kind, self.channel, cfg, fallback=self.purpose == "invite"
            )
            if isinstance(decision, Skip):
                self._settle_now(row, DeliveryStatus.SKIPPED, decision)
            elif self.channel is Channel.SMS and _sms_over_cap(decision.to, per_number, now):
                self._settle_now(row, DeliveryStatus.FAILED, policy.SMS_CAP_REACHED)
            else:
                per_number[decision.to] += 1
                ready.append((row, user, decision, cfg))
        secrets_by_user = self._issue([(user, cfg) for _, user, _, cfg in ready], now)
        db.session.execute(
            update(Delivery),
            [
                {
                    "id": row.id,
                    "status": DeliveryStatus.SENDING,
                    "attempt_id": self.attempt,
                    "address": address.to,
                    "route": address.route,
                }
                for row, _, address, _ in ready
            ],
        )
        claimed = [
            Claimed(
                row.id,
                user.id,
                row.attempts,
                self._prepare(row.id, user, address, *secrets_by_user[user.id]),
            )
            for row, user, address, _ in ready
        ]
        self.lease.beat()
        db.session.commit()
        return claimed

    def _settle_now(self, row: Any, status: DeliveryStatus, reason: str) -> None:
        """Settle a delivery without a message (skipped, or failed before sending)."""
        db.session.execute(
            update(Delivery).where(Delivery.id == row.id).values(status=status, error=reason)
        )
        details = {"batch_id": self.batch_id, "delivery_id": row.id, "reason": str(reason)}
        _audit_person(self.actor, f"delivery_{status}", row.user_id, details)

    def _issue(
        self, people: list[tuple[User, dict[str, Any]]], now: datetime
    ) -> dict[int, tuple[str, datetime]]:
        """Issue one fresh credential per person: their plain secret and its expiry."""
        if not people:
            return {}
        if self.kind is Kind.LINK:
            issued = links.issue_links_for(
                [
                    links.LinkRequest(
                        user.id, user.invited_at, links.lifetime_in(self.purpose, cfg)
                    )
                    for user, cfg in people
                ],
                purpose=self.purpose,
                actor=self.actor,
                batch_id=self.batch_id,
                now=now,
            )
            return {link.user_id: (link.url, link.expires_at) for link in issued}
        users = [user for user, _ in people]
        if self.kind is Kind.PASSWORD:
            passwords = temp_passwords.issue_temporary_passwords(
                users, self.actor, batch_id=self.batch_id, now=now, check_scope=False
            )
            return {item.user_id: (item.password, item.expires_at) for item in passwords}
        parent_codes = (
            codes.issue_parent_code(user, actor=self.actor, batch_id=self.batch_id, now=now)
            for user in users
        )
        return {code.student_id: (code.formatted, code.expires_at) for code in parent_codes}

    def _prepare(
        self, delivery_id: int, user: User, address: Address, secret: str, expires_at: datetime
    ) -> Prepared:
        return Prepared(
            delivery_id=delivery_id,
            user_id=user.id,
            kind="reset-link" if self.kind is Kind.LINK and self.purpose == "reset" else self.kind,
            to=address.to,
            route=address.route,
            given_name=user.given_name,
            display_name=f"{user.given_name} {user.family_name}".strip(),
            username=user.username,
            role=user.role,
            school_name=self._school_name(user),
            secret=secret,
            expires_at=expires_at,
            real_address=address.real,
        )

    def _school_name(self, user: User) -> str:
        schools = sorted(user.schools, key=lambda school: school.id)
        for school in schools:
            if school.id == self.school_id:
                return school.name
        return schools[0].name if schools else current_app.config["SCHOOL_DISTRICT_NAME"]

    def _unclaim(self, chunk: list[Claimed]) -> None:
        """Put claimed people the run will not reach back in the queue (re-issued later)."""
        db.session.execute(
            update(Delivery)
            .where(
                Delivery.id.in_([claimed.delivery_id for claimed in chunk]),
                Delivery.attempt_id == self.attempt,
                Delivery.status == DeliveryStatus.SENDING,
            )
            .values(status=DeliveryStatus.QUEUED, attempt_id=None)
        )
        db.session.commit()

    # -- sending ----------------------------------------------------------------------

    def _send_one(self, sender: Any, claimed: Claimed) -> None:
        self._wait_for_quota()
        if self.pace.gap:
            self._wait(self.pace.gap)
        result, error = sender.deliver(claimed.message)
        if result is Result.THROTTLED:
            self.pace.slow_down()
        elif result is Result.SENT:
            self.pace.accepted()
        self._record(claimed, result, error)
        if result is Result.INTERRUPTED:
            raise Stop(BatchStatus.RETRYING, error or "connection lost", _later(minutes=5))
        if self.pace.refusals_at_most >= current_app.config["DELIVERY_MAX_ATTEMPTS"]:
            reason = f"the {self.channel} server keeps asking to slow down: {error}"
            raise Stop(BatchStatus.PAUSED, reason, _later(minutes=60))

    def _wait_for_quota(self) -> None:
        """Take a slot of the relay's quota, waiting for one; pause when that is too long."""
        while (wait := quota.take(self.channel)) > 0:
            if wait > current_app.config["DELIVERY_QUOTA_MAX_WAIT"]:
                resume_at = utcnow() + timedelta(seconds=wait)
                reason = f"the {self.channel} quota is spent until {resume_at:%d %b %H:%M} UTC"
                raise Stop(BatchStatus.PAUSED, reason, resume_at)
            self._wait(wait)

    def _wait(self, seconds: float) -> None:
        """Sleep, renewing the lease at each heartbeat."""
        heartbeat = current_app.config["BATCH_HEARTBEAT_SECONDS"]
        while seconds > 0:
            step = min(seconds, heartbeat)
            _sleep(step)
            seconds -= step
            self.lease.beat(force=True)
            db.session.commit()

    def _record(self, claimed: Claimed, result: Result, error: str | None) -> None:
        """Write the delivery's outcome and its audit event, and commit both."""
        cfg = current_app.config
        now = utcnow()
        attempts = claimed.attempts + 1
        settled = policy.settle(
            result,
            error,
            attempts=attempts,
            max_attempts=cfg["DELIVERY_MAX_ATTEMPTS"],
            retry_delays=cfg["DELIVERY_RETRY_DELAYS"],
            now=now,
            throttle_wait=self.pace.gap,
        )
        values: dict[str, Any] = {
            "status": settled.status,
            "error": settled.error,
            "next_attempt_at": settled.retry_at,
            "sent_at": now if settled.status is DeliveryStatus.SENT else None,
        }
        if settled.counts_as_attempt:
            values["attempts"] = attempts
        db.session.execute(
            update(Delivery)
            .where(Delivery.id == claimed.delivery_id, Delivery.attempt_id == self.attempt)
            .values(**values)
        )
        details: dict[str, Any] = {"batch_id": self.batch_id, "delivery_id": claimed.delivery_id}
        if settled.status is DeliveryStatus.SENT:
            details.update(channel=self.channel, route=claimed.message.route)
        else:
            details.update(reason=settled.error)
        _audit_person(self.actor, settled.audit_action, claimed.user_id, details)
        self.lease.beat()
        db.session.commit()

    # -- the end of a run -------------------------------------------------------------

    def _finish(
        self, status: BatchStatus, error: str | None = None, resume_at: datetime | None = None
    ) -> str:
        batch = db.session.get(CredentialBatch, self.batch_id)
        counts = _counts(self.batch_id)
        batch.sent = counts[DeliveryStatus.SENT]
        batch.failed = counts[DeliveryStatus.FAILED]
        batch.skipped = counts[DeliveryStatus.SKIPPED]
        self.lease.release(status, error, resume_at)
        paused = status in (BatchStatus.RETRYING, BatchStatus.PAUSED)
        audit.record(
            self.actor,
            "batch_paused" if paused else "batch_finished",
            batch,
            status=status,
            sent=batch.sent,
            failed=batch.failed,
            skipped=batch.skipped,
            reason=error,
        )
        db.session.commit()
        return status


def _sleep(seconds: float) -> None:
    """Every wait of a run goes through here (tests move a fake clock instead)."""
    time.sleep(seconds)


def _sender(channel: Channel) -> Any:
    if channel is Channel.EMAIL:
        return email.sender(lambda seconds: _sleep(seconds))  # looked up late: tests move it
    if channel is Channel.SMS:
        return sms.SmsChannel(sms.sender())
    raise DeliveryConfigError(f"channel {channel!r} is not sent by a job")


def _requester(batch: CredentialBatch) -> Actor:
    """The batch acts as the person who asked for it, or as the system once they are gone."""
    user = db.session.get(User, batch.requested_by_id) if batch.requested_by_id else None
    return user if user is not None else audit.SYSTEM


def _audit_person(actor: Actor, action: str, user_id: int, details: dict[str, Any]) -> None:
    audit.record_events(actor, [audit.Event(action, "user", user_id, details)])


def _load_people(ids: list[int]) -> dict[int, User]:
    users = db.session.scalars(
        select(User).where(User.id.in_(ids)).options(selectinload(User.schools))
    )
    return {user.id: user for user in users}


def _sms_over_cap(number: str, claimed: Counter[str], now: datetime) -> bool:
    """True when the number already had its day's messages (SMS_DAILY_CAP_PER_NUMBER)."""
    sent = db.session.scalar(
        select(func.count()).where(
            Delivery.channel == Channel.SMS,
            Delivery.address == number,
            Delivery.status == DeliveryStatus.SENT,
            Delivery.sent_at > now - timedelta(days=1),
        )
    )
    return sent + claimed[number] >= current_app.config["SMS_DAILY_CAP_PER_NUMBER"]


def _counts(batch_id: int) -> Counter[DeliveryStatus]:
    rows = db.session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.batch_id == batch_id)
        .group_by(Delivery.status)
    )
    return Counter({DeliveryStatus(status): count for status, count in rows})


def _count(batch_id: int, statuses: tuple[DeliveryStatus, ...]) -> int:
    return db.session.scalar(
        select(func.count()).where(Delivery.batch_id == batch_id, Delivery.status.in_(statuses))
    )


def _count_skipped(batch_id: int, reason: Skip) -> int:
    return db.session.scalar(
        select(func.count()).where(
            Delivery.batch_id == batch_id,
            Delivery.status == DeliveryStatus.SKIPPED,
            Delivery.error == reason,
        )
    )


def _next_retry(batch_id: int) -> datetime:
    """When the batch's earliest waiting delivery is due (now, for one without a time)."""
    soonest = db.session.scalar(
        select(func.min(Delivery.next_attempt_at)).where(
            Delivery.batch_id == batch_id, Delivery.status == DeliveryStatus.QUEUED
        )
    )
    return soonest or utcnow()


def _seconds_to_next_retry(batch_id: int) -> float | None:
    if not _count(batch_id, (DeliveryStatus.QUEUED,)):
        return None
    return max((_next_retry(batch_id) - utcnow()).total_seconds(), 0.0)


def _later(*, minutes: int) -> datetime:
    return utcnow() + timedelta(minutes=minutes)
