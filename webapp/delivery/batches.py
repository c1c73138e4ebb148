"""The cohort record: one CredentialBatch per bulk action, one Delivery per person.

`send_credentials` decides who gets what (scope-checked, filtered for rollouts), writes the
batch and its deliveries in the caller's transaction, and queues one job with the batch id.
The job (webapp.delivery.jobs.process_batch) issues each credential and sends it. Nothing
here touches anyone outside the selection, so a new cohort never disturbs an earlier one.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from webapp.delivery import links, policy
from webapp.delivery.jobs import process_batch
from webapp.delivery.links import LinkCheck, LinkStatus
from webapp.delivery.policy import Skip
from webapp.extensions import db
from webapp.jobs import enqueue
from webapp.models import (
    BatchStatus,
    Channel,
    CredentialBatch,
    Delivery,
    DeliveryStatus,
    Kind,
    ParentCode,
    Role,
    User,
    user_schools,
    utcnow,
)
from webapp.services import audit, scope, settings
from webapp.services.errors import NotAllowed, PolicyError

KINDS = tuple(kind.value for kind in Kind)
CHANNELS = tuple(channel.value for channel in Channel)


@dataclass(frozen=True)
class BatchOptions:
    idempotency_key: str
    only_never_sent: bool = False
    only_not_active: bool = False
    sent_before: datetime | None = None
    include_active: bool = False
    school_id: int | None = None
    # Links only: "invite" (set up an account) or "reset" (the forgot-password page; the
    # person's own address only, never the school's fallback).
    purpose: str = "invite"

    @classmethod
    def parse(cls, options: Mapping[str, Any] | None) -> BatchOptions:
        options = dict(options or {})
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(options) - known
        if unknown:
            raise PolicyError([f"Unknown batch options: {', '.join(sorted(unknown))}."])
        key = str(options.pop("idempotency_key", None) or uuid.uuid4().hex)
        if not 8 <= len(key) <= 64:
            raise PolicyError(["The idempotency key must be 8 to 64 characters."])
        sent_before = options.pop("sent_before", None)
        if isinstance(sent_before, str):
            sent_before = datetime.fromisoformat(sent_before)
        if sent_before is not None and sent_before.tzinfo is None:
            raise PolicyError(["Give sent_before with a time zone (UTC)."])
        if options.get("purpose", "invite") not in links.PURPOSES:
            raise PolicyError([f"A link's purpose is one of {', '.join(links.PURPOSES)}."])
        return cls(idempotency_key=key, sent_before=sent_before, **options)

    @property
    def rollout(self) -> policy.Rollout:
        return policy.Rollout(
            only_never_sent=self.only_never_sent,
            only_not_active=self.only_not_active,
            include_active=self.include_active,
            sent_before=self.sent_before,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "only_never_sent": self.only_never_sent,
            "only_not_active": self.only_not_active,
            "sent_before": self.sent_before.isoformat() if self.sent_before else None,
            "include_active": self.include_active,
            "purpose": self.purpose,
        }

    @property
    def uses_fallback(self) -> bool:
        return self.purpose == "invite"


@dataclass(frozen=True)
class Recipient:
    user: User
    address: policy.Address | None  # None: needs printing


@dataclass
class Plan:
    """Who a batch would reach, and who it leaves out and why."""

    kind: Kind
    channel: Channel
    recipients: list[Recipient] = field(default_factory=list)
    excluded: Counter[Skip] = field(default_factory=Counter)

    @property
    def needs_printing(self) -> list[User]:
        if self.channel is Channel.PRINT:
            return [r.user for r in self.recipients]
        return [r.user for r in self.recipients if r.address is None]

    @property
    def by_route(self) -> Counter[str]:
        return Counter(r.address.route if r.address else "print" for r in self.recipients)


def _kind_channel(kind: str, channel: str) -> tuple[Kind, Channel]:
    try:
        kind, channel = Kind(kind), Channel(channel)
    except ValueError:
        raise PolicyError(
            [f"Use a kind of {', '.join(Kind)} and a channel of {', '.join(Channel)}."]
        ) from None
    problem = policy.check_kind_channel(kind, channel)
    if problem:
        raise PolicyError([problem])
    return kind, channel


def _same_kinds(kind: Kind) -> tuple[Kind, ...]:
    """Kinds that give the same thing: a parent code, or a way to sign in."""
    return (Kind.PARENT_CODE,) if kind is Kind.PARENT_CODE else (Kind.LINK, Kind.PASSWORD)


def _awaiting_print(user_ids: list[int], kind: Kind) -> set[int]:
    """People whose slip or letter of this kind waits in a batch to be printed."""
    return set(
        db.session.scalars(
            select(Delivery.user_id)
            .join(CredentialBatch, CredentialBatch.id == Delivery.batch_id)
            .where(
                Delivery.user_id.in_(user_ids),
                CredentialBatch.status == BatchStatus.AWAITING_PRINT,
                CredentialBatch.kind.in_(_same_kinds(kind)),
                (Delivery.error == Skip.NO_ADDRESS) | (Delivery.status == DeliveryStatus.QUEUED),
            )
        )
    )


def _last_sent(user_ids: list[int], kind: Kind) -> dict[int, datetime]:
    kinds = _same_kinds(kind)
    rows = db.session.execute(
        select(Delivery.user_id, func.max(Delivery.sent_at))
        .join(CredentialBatch, CredentialBatch.id == Delivery.batch_id)
        .where(
            Delivery.user_id.in_(user_ids),
            Delivery.status == DeliveryStatus.SENT,
            CredentialBatch.kind.in_(kinds),
        )
        .group_by(Delivery.user_id)
    )
    return {user_id: sent_at for user_id, sent_at in rows}


def plan_batch(users: Sequence[User], kind: Kind, channel: Channel, opts: BatchOptions) -> Plan:
    """Apply the eligibility rules and rollout filters, and find each person's address."""
    plan = Plan(kind, channel)
    ids = [user.id for user in users]
    last_sent = _last_sent(ids, kind) if ids else {}
    with_codes: set[int] = set()
    if kind is Kind.PARENT_CODE and opts.only_never_sent and ids:
        with_codes = set(
            db.session.scalars(select(ParentCode.student_id).where(ParentCode.student_id.in_(ids)))
        )
    printing = _awaiting_print(ids, kind) if ids and opts.only_never_sent else set()
    rollout = opts.rollout
    cache: dict = {}
    for user in users:
        history = policy.History(last_sent.get(user.id), user.id in with_codes, user.id in printing)
        reason = policy.left_out(user, kind, rollout, history)
        if reason:
            plan.excluded[reason] += 1
            continue
        address = None
        if channel is not Channel.PRINT:
            cfg = settings.for_user(user, cache)
            address = policy.address_for(user, channel, cfg, fallback=opts.uses_fallback)
        plan.recipients.append(Recipient(user, address))
    return plan


def preview(
    selection: Sequence[int],
    kind: str,
    channel: str,
    options: Mapping[str, Any] | None,
    actor: User,
) -> Plan:
    """Say who a batch would reach, without creating anything."""
    kind, channel = _kind_channel(kind, channel)
    users = scope.require_users(actor, selection)
    return plan_batch(users, kind, channel, BatchOptions.parse(options))


def _existing(key: str, actor: User) -> CredentialBatch | None:
    batch = db.session.scalar(select(CredentialBatch).where(CredentialBatch.idempotency_key == key))
    if batch is not None and batch.requested_by_id != actor.id:
        # Someone else's key: do not reveal their batch.
        raise NotAllowed("idempotency key belongs to another batch", "credentialbatch", batch.id)
    return batch


def send_credentials(
    selection: Sequence[int],
    kind: str,
    channel: str,
    options: Mapping[str, Any] | None,
    actor: User,
) -> CredentialBatch:
    """Create a batch and its deliveries and queue its job; the caller commits.

    The whole selection is refused if any id is outside the actor's scope. The same
    idempotency key returns the first batch instead of making a second.
    """
    kind, channel = _kind_channel(kind, channel)
    users = scope.require_users(actor, selection)
    opts = BatchOptions.parse(options)
    existing = _existing(opts.idempotency_key, actor)
    if existing is not None:
        return existing
    plan = plan_batch(users, kind, channel, opts)
    batch = CredentialBatch(
        idempotency_key=opts.idempotency_key,
        requested_by_id=actor.id,
        school_id=opts.school_id or _common_school(users),
        kind=kind,
        channel=channel,
        options={**opts.as_json(), "excluded": {str(k): n for k, n in plan.excluded.items()}},
        status=BatchStatus.QUEUED,
        total=len(plan.recipients),
    )
    existing = _insert_once(batch, actor)
    if existing is not None:
        return existing
    batch = db.session.get(CredentialBatch, batch.id)

    rows = []
    for r in plan.recipients:
        skipped = channel is not Channel.PRINT and r.address is None
        rows.append(
            {
                "batch_id": batch.id,
                "user_id": r.user.id,
                "channel": channel,
                "address": r.address.to if r.address else None,
                "route": r.address.route if r.address else None,
                "status": DeliveryStatus.SKIPPED if skipped else DeliveryStatus.QUEUED,
                "error": Skip.NO_ADDRESS if skipped else None,
                "attempts": 0,
            }
        )
    if rows:
        db.session.execute(Delivery.__table__.insert(), rows)
    batch.skipped = sum(1 for row in rows if row["status"] is DeliveryStatus.SKIPPED)
    if batch.skipped:
        # Each person skipped here gets the event a skip in the job gets.
        skipped = db.session.execute(
            select(Delivery.id, Delivery.user_id, Delivery.error).where(
                Delivery.batch_id == batch.id, Delivery.status == DeliveryStatus.SKIPPED
            )
        )
        audit.record_many_ids(
            actor,
            "delivery_skipped",
            "user",
            [
                (user_id, {"batch_id": batch.id, "delivery_id": delivery_id, "reason": error})
                for delivery_id, user_id, error in skipped
            ],
        )
    queued = len(rows) - batch.skipped
    if channel is Channel.PRINT or (batch.skipped and not queued):
        # Slips are rendered (and their credentials issued) by the print flow, on demand.
        batch.status = BatchStatus.AWAITING_PRINT
    elif queued:
        enqueue(process_batch, batch.id)
    else:
        batch.status = BatchStatus.DONE
    db.session.flush()
    audit.record(
        actor,
        "batch_created",
        batch,
        kind=kind,
        channel=channel,
        total=batch.total,
        queued=queued,
        needs_printing=len(plan.needs_printing),
        excluded={str(k): n for k, n in plan.excluded.items()},
    )
    return batch


def _insert_once(batch: CredentialBatch, actor: User) -> CredentialBatch | None:
    """Insert the batch, or return the one a parallel request made with the same key.

    INSERT ... ON CONFLICT DO NOTHING waits for a parallel insert of the same key to commit
    and then does nothing, without aborting the transaction. Savepoints are avoided: pysqlite
    mishandles them, and the job queue treats a savepoint's release as a commit.
    """
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    values = {
        column.key: getattr(batch, column.key)
        for column in CredentialBatch.__table__.columns
        if column.key != "id" and getattr(batch, column.key) is not None
    }
    values.setdefault("created_at", utcnow())
    new_id = db.session.execute(
        insert(CredentialBatch)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(CredentialBatch.id)
    ).scalar()
    if new_id is None:
        existing = _existing(batch.idempotency_key, actor)
        if existing is None:  # pragma: no cover (the conflict row vanished)
            raise RuntimeError("idempotency key conflict without a batch")
        return existing
    batch.id = new_id
    return None


def _common_school(users: Sequence[User]) -> int | None:
    common: set[int] | None = None
    for user in users:
        ids = {school.id for school in user.schools}
        common = ids if common is None else common & ids
    return min(common) if common and len(common) == 1 else None


def require_batch(actor: User, batch_id: int) -> CredentialBatch:
    """Load a batch the actor may act on: every person in it must be in their scope."""
    batch = db.session.get(CredentialBatch, batch_id)
    if batch is None or actor.role not in (Role.ADMIN, Role.TEACHER):
        raise NotAllowed("batch outside scope", "credentialbatch", batch_id)
    user_ids = db.session.scalars(select(Delivery.user_id).where(Delivery.batch_id == batch.id))
    try:
        scope.require_users(actor, list(user_ids))
    except NotAllowed:
        raise NotAllowed("batch outside scope", "credentialbatch", batch_id) from None
    return batch


def retry_failed(batch: CredentialBatch, actor: User) -> int:
    """Queue the batch's failed deliveries again (only those) and run it; the caller commits."""
    batch = require_batch(actor, batch.id)
    failed = db.session.scalars(
        select(Delivery).where(
            Delivery.batch_id == batch.id, Delivery.status == DeliveryStatus.FAILED
        )
    ).all()
    for delivery in failed:
        delivery.status = DeliveryStatus.QUEUED
        delivery.next_attempt_at = None
    if failed:
        batch.status = BatchStatus.QUEUED
        batch.finished_at = None
        enqueue(process_batch, batch.id)
    db.session.flush()
    audit.record(actor, "batch_retry_failed", batch, count=len(failed))
    return len(failed)


def resume_batch(batch: CredentialBatch, actor: User) -> bool:
    """Queue the batch's job again, to finish what an interrupted run left; caller commits."""
    batch = require_batch(actor, batch.id)
    if batch.status.finished:
        return False
    db.session.execute(
        update(Delivery)
        .where(Delivery.batch_id == batch.id, Delivery.status == DeliveryStatus.QUEUED)
        .values(next_attempt_at=None)
    )
    enqueue(process_batch, batch.id)
    db.session.flush()
    audit.record(actor, "batch_resumed", batch)
    return True


def resume_due(now: datetime | None = None) -> list[int]:
    """Queue every batch that should go on by itself; the housekeeping job commits.

    Paused or waiting batches whose time has come (a daily quota renewed, a retry due),
    and running ones whose run stopped renewing its lease (a killed worker).
    """
    now = now or utcnow()
    stale = now - timedelta(seconds=current_app.config["BATCH_LEASE_SECONDS"])
    due = list(
        db.session.scalars(
            select(CredentialBatch.id).where(
                or_(
                    CredentialBatch.status.in_([BatchStatus.PAUSED, BatchStatus.RETRYING])
                    & (CredentialBatch.resume_at <= now),
                    (CredentialBatch.status == BatchStatus.RUNNING)
                    & (CredentialBatch.heartbeat_at < stale),
                )
            )
        )
    )
    for batch_id in due:
        enqueue(process_batch, batch_id)
    return due


def may_request_new_link(check: LinkCheck) -> bool:
    """Tell whether the person behind a dead invite link may email themself a new one.

    Only invites that expired or were replaced, for accounts never activated and still on,
    with an email address of their own: the new link goes to that address, never to the
    person asking. Someone who has set a password signs in (or asks the school) instead, so
    an old link in the wrong hands cannot rotate an active person's credentials.
    """
    user = check.user
    return (
        check.status in (LinkStatus.EXPIRED, LinkStatus.REPLACED)
        and check.token is not None
        and user is not None
        and user.activated_at is None
        and user.deactivated_at is None
        and policy.valid_email(user.email) is not None
    )


def request_new_link(check: LinkCheck) -> CredentialBatch:
    """Email a fresh invite link to the owner of a dead one; the caller commits.

    A one-person batch acting as the person themself, so it is in the delivery log and the
    audit trail like any other send; keyed by the dead link, so asking again sends nothing
    more.
    """
    if not may_request_new_link(check):
        raise PolicyError(["A new link cannot be sent for this one. Ask your school."])
    user = check.user
    key = f"relink:{check.token.token_hash[:48]}"
    return send_credentials([user.id], "link", "email", {"idempotency_key": key}, user)


def request_reset_link(user: User) -> CredentialBatch:
    """Email a reset link to a person's own address, acting as them; the caller commits.

    A one-person batch like "Email me a new link": the job issues the link (a reset
    purpose, RESET_LINK_MINUTES) and sends it after the commit, so the request that asked
    never waits for, or learns about, the mail server. The caller checks the address.
    """
    options = {
        "idempotency_key": f"reset:{user.id}:{uuid.uuid4().hex[:24]}",
        "include_active": True,
        "purpose": "reset",
    }
    return send_credentials([user.id], "link", "email", options, user)


def notifies_new_accounts() -> bool:
    """Return whether any school tells new students or parents (off by default)."""
    return settings.on_anywhere("notify_new_students") or settings.on_anywhere("notify_new_parents")


def _never_invited(ids: Sequence[int], chunk: int = 5000) -> list[tuple[int, Role, int | None]]:
    """Return (id, role, first school id) of the active, never invited, never activated ids."""
    first_school = (
        select(func.min(user_schools.c.school_id))
        .where(user_schools.c.user_id == User.id)
        .scalar_subquery()
    )
    rows: list[tuple[int, Role, int | None]] = []
    for start in range(0, len(ids), chunk):
        rows += db.session.execute(
            select(User.id, User.role, first_school).where(
                User.id.in_(ids[start : start + chunk]),
                User.deactivated_at.is_(None),
                User.invited_at.is_(None),
                User.activated_at.is_(None),
            )
        ).tuples()
    return rows


def notify_new_accounts(user_ids: Sequence[int], actor: User) -> list[CredentialBatch]:
    """Send set-password links to accounts an import just created, as settings ask.

    The roster importer calls this after committing; this adds batches and the caller
    commits again. Only never-invited, never-activated students and parents whose school
    turned on notify_new_students / notify_new_parents are included. Calling again with the
    same ids returns the same batches.
    """
    if not notifies_new_accounts():
        return []
    ids = scope.require_user_ids(actor, user_ids)
    cache: dict[int | None, dict[str, Any]] = {}
    groups: dict[str, list[int]] = defaultdict(list)
    for user_id, role, school_id in _never_invited(ids):
        # Settings follow the person's first school, as settings.for_user() picks it.
        if school_id not in cache:
            cache[school_id] = settings.snapshot(school_id)
        cfg = cache[school_id]
        wanted = (role == Role.STUDENT and cfg["notify_new_students"]) or (
            role == Role.PARENT and cfg["notify_new_parents"]
        )
        if wanted:
            groups[cfg["notify_channel"]].append(user_id)
    batches = []
    for channel, ids in sorted(groups.items()):
        digest = hashlib.sha256(f"{channel}:{sorted(ids)}".encode()).hexdigest()[:40]
        batches.append(
            send_credentials(
                ids,
                "link",
                channel,
                {"idempotency_key": f"notify:{digest}", "only_never_sent": True},
                actor,
            )
        )
    return batches
