"""The batch job: issue and send a batch's credentials in chunks, resumable after a crash.

How a chunk runs, and why it is safe to kill at any point:

1. Claim (committed before any of the chunk is sent): for each due delivery, issue a fresh
   credential (rotating the person's epoch, so every earlier link, password or session of
   theirs dies) and mark the delivery 'sending' with this run's attempt id. Plain secrets
   stay in memory only. The next chunk is claimed in small steps while this one is sent
   (webapp/delivery/steps.py); a group commit of outcomes may come between the claim's
   pieces, never inside one, so every credential and every outcome is committed together
   with its audit event, and a delivery is marked only after its credential is written.
2. Send: one SMTP connection for the run, reused chunk after chunk; each outcome ('sent',
   'failed' with the server's reason, or 'queued' again with a back-off) is recorded with
   its audit event and committed (in groups of DELIVERY_COMMIT_EVERY, default 1) while the
   server works on the next message, and in any case before that message's data is sent.
3. A delivery left 'sending' by a dead run is treated as queued by the next run (once the
   dead run's lease has expired): its credential is issued again, killing whatever the dead
   run may have sent, and sent.

Guarantee after a crash (kill -9 of the worker, at any instruction):
- Nobody is skipped: every delivery ends sent, failed (with a reason), skipped (with a
  reason, e.g. "no address: print instead"), or stays queued/sending for the next run.
- Extra messages: only the message in flight, which the server may have taken just as
  the worker died. Each outcome is committed before the next message goes out (the
  transports call `settle` first; it mostly finds the work done already, in the server's
  think time). That person gets two messages; the first one's credential no longer works,
  the last one received works. DELIVERY_COMMIT_EVERY above 1 trades this for speed: up to
  that many outcomes may then be uncommitted, and their people messaged twice.
- Claimed-but-unsent people (the chunk being claimed at the crash) get no message from the
  dead run; only their older credential was rotated, and the next run sends them a new one.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, func, or_, select, update

from webapp.delivery import codes, email, links, messages, sms, steps, temp_passwords
from webapp.delivery.batches import FINAL, resolve_address
from webapp.delivery.messages import Prepared
from webapp.delivery.outcomes import DeliveryConfigError, Outcome, Result
from webapp.extensions import db
from webapp.jobs import job
from webapp.models import CredentialBatch, Delivery, Role, School, User, user_schools, utcnow
from webapp.models.base import UTCDateTime
from webapp.models.bulk import BulkWrite, commit_in_place
from webapp.services import audit, settings

log = logging.getLogger(__name__)


_deliveries = Delivery.__table__
# Plain executemany statements on tuples (webapp.models.bulk): the ORM's per-row
# bookkeeping, and even Core's per-row dicts, cost more than the SMTP round trip these
# rows follow. Each row's values come in the listed order, then the delivery id.
_CLAIM = BulkWrite(
    _deliveries,
    ("status", "attempt_id", "attempts", "address", "route", "next_attempt_at"),
    key="id",
)
# A delivery settled without a message: skipped, or failed before sending.
_SETTLE = BulkWrite(_deliveries, ("status", "error"), key="id")
_OUTCOME = BulkWrite(_deliveries, ("status", "sent_at", "error", "next_attempt_at"), key="id")


class DeliveryDeferred(Exception):
    """Raised under RQ when messages wait for a retry, so RQ's Retry runs the job again."""


@job
def process_batch(batch_id: int) -> str:
    """Send a batch's queued deliveries; safe to run again at any time."""
    # Everything this run loads stays usable across its many small commits.
    db.session().expire_on_commit = False
    runner = secrets.token_hex(8)
    if not _acquire(batch_id, runner):
        return "busy"
    try:
        status = _run(db.session.get(CredentialBatch, batch_id), runner)
    except BaseException:
        db.session.rollback()
        _release(batch_id, runner, "retrying", "the run stopped with an error")
        raise
    if status == "retrying" and _under_rq():
        raise DeliveryDeferred(f"batch {batch_id}: some messages wait for a retry")
    return status


def _under_rq() -> bool:
    try:
        from rq import get_current_job
    except ImportError:  # pragma: no cover
        return False
    return get_current_job() is not None


def _acquire(batch_id: int, runner: str) -> bool:
    """Take the batch's lease, unless a live run holds it."""
    now = utcnow()
    stale = now - timedelta(seconds=current_app.config["BATCH_LEASE_SECONDS"])
    result = db.session.execute(
        update(CredentialBatch)
        .where(
            CredentialBatch.id == batch_id,
            CredentialBatch.status.not_in(FINAL),
            or_(CredentialBatch.runner.is_(None), CredentialBatch.heartbeat_at < stale),
        )
        .values(
            runner=runner,
            heartbeat_at=now,
            status="running",
            started_at=func.coalesce(CredentialBatch.started_at, now),
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def _release(batch_id: int, runner: str, status: str, error: str | None) -> None:
    db.session.execute(
        update(CredentialBatch)
        .where(CredentialBatch.id == batch_id, CredentialBatch.runner == runner)
        .values(runner=None, status=status, error=error)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def _actor(batch: CredentialBatch) -> User | str:
    if batch.requested_by_id:
        user = db.session.get(User, batch.requested_by_id)
        if user is not None:
            return user
    return "system"


def _transport(channel: str) -> Any:
    if channel == "email":
        return email.transport()
    if channel == "sms":
        return sms.SmsTransport(sms.sender())
    raise DeliveryConfigError(f"channel {channel!r} is not sent by a job")


@dataclass(frozen=True, slots=True)
class _Claim:
    """One delivery marked 'sending' by this run, as recording its outcome needs it."""

    delivery_id: int
    user_id: int
    attempts: int
    route: str


@dataclass
class _Claimed:
    """A claimed chunk: deliveries marked 'sending', credentials issued, messages to send."""

    ids: set[int]
    ready: list[_Claim]
    prepared: list[Prepared]


def _run(batch: CredentialBatch, runner: str) -> str:
    actor = _actor(batch)
    try:
        transport = _transport(batch.channel)
    except DeliveryConfigError as exc:
        _finish(batch, runner, "failed", str(exc), actor)
        return "failed"
    try:
        interruption = _send_chunks(batch, transport, actor)
    finally:
        transport.close()
    remaining = _count(batch.id, ("queued", "sending"))
    if remaining:
        _finish(batch, runner, "retrying", interruption or "waiting to retry", actor)
        return "retrying"
    _finish(batch, runner, "done", None, actor)
    return "done"


def _send_chunks(batch: CredentialBatch, transport: Any, actor: User | str) -> str | None:
    """Claim and send chunk after chunk; return the interruption reason if the channel died."""
    cfg = current_app.config
    claimed = steps.Stepper(_claim_steps(batch, actor, after=0)).finish()
    while True:
        if claimed is None:
            now = utcnow()
            wait = _seconds_to_next_retry(batch.id, now)
            if wait is not None and wait <= max(cfg["DELIVERY_RETRY_DELAYS"] or [0]):
                transport.close()  # no idle connection held through the wait
                time.sleep(wait)
                # From the start again: what waited for a retry lies behind the last chunk.
                claimed = steps.Stepper(_claim_steps(batch, actor, after=0)).finish()
                continue
            return None
        # The next chunk is claimed in small steps while this one is on the wire.
        upcoming = steps.Stepper(_claim_steps(batch, actor, after=max(claimed.ids)))
        interruption = _send_chunk(batch, claimed, transport, actor, upcoming)
        if interruption:
            # Keep what the next claim committed (it is re-issued on resume), drop the rest.
            db.session.rollback()
            return interruption
        claimed = upcoming.finish()


def _seconds_to_next_retry(batch_id: int, now: datetime) -> float | None:
    soonest = db.session.scalar(
        select(func.min(Delivery.next_attempt_at)).where(
            Delivery.batch_id == batch_id, Delivery.status == "queued"
        )
    )
    if soonest is None:
        return None
    return max((soonest - now).total_seconds(), 0.0)


def _count(batch_id: int, statuses: Sequence[str]) -> int:
    return db.session.scalar(
        select(func.count()).where(Delivery.batch_id == batch_id, Delivery.status.in_(statuses))
    )


def _refresh_counts(batch: CredentialBatch) -> None:
    counts = dict(
        db.session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.batch_id == batch.id)
            .group_by(Delivery.status)
        ).all()
    )
    batch.sent = counts.get("sent", 0)
    batch.failed = counts.get("failed", 0)
    batch.skipped = counts.get("skipped", 0)


def _finish(
    batch: CredentialBatch, runner: str, status: str, error: str | None, actor: User | str
) -> None:
    _refresh_counts(batch)
    batch.status = status
    batch.error = error
    batch.runner = None
    if status == "done":
        batch.finished_at = utcnow()
    audit.record(
        actor,
        "batch_finished" if status == "done" else "batch_paused",
        batch,
        status=status,
        sent=batch.sent,
        failed=batch.failed,
        skipped=batch.skipped,
        reason=error,
    )
    db.session.commit()


def _sms_over_cap(number: str, limit: int, now: datetime) -> bool:
    sent = db.session.scalar(
        select(func.count()).where(
            Delivery.channel == "sms",
            Delivery.address == number,
            Delivery.status == "sent",
            Delivery.sent_at > now - timedelta(days=1),
        )
    )
    return sent >= limit


# Chunk queries, built once: IN lists are expanding parameters, so a chunk of ids costs
# no statement building or per-id coercion.
_DUE = (
    select(_deliveries.c.id, _deliveries.c.user_id, _deliveries.c.attempts)
    .where(
        _deliveries.c.batch_id == bindparam("batch_id"),
        _deliveries.c.status.in_(("queued", "sending")),
        or_(
            _deliveries.c.next_attempt_at.is_(None),
            _deliveries.c.next_attempt_at <= bindparam("now", type_=UTCDateTime()),
        ),
        # Keyset: chunks are claimed in id order, so the one being sent lies behind.
        _deliveries.c.id > bindparam("after"),
    )
    .order_by(_deliveries.c.id)
    .limit(bindparam("limit"))
)
_PEOPLE = select(
    User.id,
    User.username,
    User.given_name,
    User.family_name,
    User.role,
    User.email,
    User.phone,
    User.invited_at,
    User.deactivated_at,
).where(User.id.in_(bindparam("ids", expanding=True)))
_MEMBERSHIPS = select(user_schools.c.user_id, user_schools.c.school_id).where(
    user_schools.c.user_id.in_(bindparam("ids", expanding=True))
)
_SCHOOL_NAMES = select(School.id, School.name).where(
    School.id.in_(bindparam("ids", expanding=True))
)


def _claim_steps(
    batch: CredentialBatch, actor: User | str, after: int
) -> steps.Steps[_Claimed | None]:
    """Claim the next chunk of deliveries after id `after`, in small steps; commits the
    claim at the end.

    For each due delivery: skip it with a stated reason, or issue a fresh credential and
    mark it 'sending' with this attempt's id. The plain secrets stay in memory only.
    People and deliveries are read as plain rows: ORM objects cost more per person than
    the message that follows. A step that half writes a piece (rows without their audit
    events) yields True, and no commit comes until the piece is whole (see _send_chunk).
    """
    cfg = current_app.config
    now = utcnow()
    chunk = db.session.execute(
        _DUE,
        {"batch_id": batch.id, "now": now, "after": after, "limit": cfg["DELIVERY_CHUNK_SIZE"]},
    ).all()
    if not chunk:
        return None
    yield False
    attempt = secrets.token_hex(8)
    people, memberships, school_names = yield from _read_people([d.user_id for d in chunk])
    cache: dict = {}
    per_number: Counter[str] = Counter()  # messages to each number claimed in this chunk
    ready: list[tuple[Any, Any, str, str, str | None, dict[str, Any]]] = []
    settled: list[tuple[str, str, int]] = []  # (status, reason, delivery id), as _SETTLE
    users: dict[int, int] = {}  # delivery id -> person, for the settled rows' events

    def settle(delivery: Any, status: str, reason: str) -> None:
        settled.append((status, reason, delivery.id))
        users[delivery.id] = delivery.user_id

    for n, delivery in enumerate(chunk):
        if n % 10 == 9:
            yield False
        person = people[delivery.user_id]
        held = memberships.get(person.id)
        school_cfg = settings.for_school(held[0] if held else None, cache)
        if person.deactivated_at is not None:
            settle(delivery, "skipped", "deactivated")
            continue
        if batch.kind == "parent-code" and person.role != Role.STUDENT:
            settle(delivery, "skipped", "not a student")
            continue
        address, route = resolve_address(person, batch.channel, school_cfg)
        if address is None:
            settle(delivery, "skipped", "no address: print instead")
            continue
        real = None
        if school_cfg["test_mode"]:
            test_address = school_cfg[
                "test_mode_email" if batch.channel == "email" else "test_mode_phone"
            ]
            if not test_address:
                settle(delivery, "skipped", "test mode is on but has no test address")
                continue
            real, address, route = address, test_address, "test_mode"
        elif batch.channel == "sms" and _sms_over_cap(
            address, cfg["SMS_DAILY_CAP_PER_NUMBER"] - per_number[address], now
        ):
            settle(delivery, "failed", "daily SMS limit for this number reached")
            continue
        per_number[address] += 1
        ready.append((delivery, person, address, route, real, school_cfg))
    yield False
    for start in range(0, len(settled), links.PIECE):  # each settled row with its event
        piece = settled[start : start + links.PIECE]
        _SETTLE(piece)
        yield True
        for action, group in _settle_events(batch.id, piece, users).items():
            audit.record_many_ids(actor, action, "user", group)
        yield False
    issued = yield from _issue_steps(
        batch, [(person, school_cfg) for _, person, *_, school_cfg in ready], actor, now
    )
    # A delivery is marked only once its credential is written (the crash rules above).
    yield from _CLAIM.steps(
        [
            ("sending", attempt, delivery.attempts + 1, address, route, None, delivery.id)
            for delivery, _, address, route, *_ in ready
        ]
    )
    district = cfg["SCHOOL_DISTRICT_NAME"]
    prepared = []
    for n, (delivery, person, address, route, real, _) in enumerate(ready):
        if n % 10 == 9:
            yield False
        secret, expires_at = issued[person.id]
        held = memberships.get(person.id)
        if not held:
            school_name = district
        elif batch.school_id in held:
            school_name = school_names[batch.school_id]
        else:
            school_name = school_names[held[0]]
        prepared.append(
            Prepared(
                delivery_id=delivery.id,
                user_id=person.id,
                kind=batch.kind,
                to=address,
                route=route,
                given_name=person.given_name,
                display_name=f"{person.given_name} {person.family_name}".strip(),
                username=person.username,
                role=person.role,
                school_name=school_name,
                secret=secret,
                expires_at=expires_at,
                real_address=real,
            )
        )
    yield False
    # The claim: credentials issued and deliveries marked. (The batch's heartbeat is kept
    # by each chunk's end, _send_chunk.)
    commit_in_place()
    return _Claimed(
        {d.id for d in chunk},
        [
            _Claim(delivery.id, person.id, delivery.attempts + 1, route)
            for delivery, person, _, route, *_ in ready
        ],
        prepared,
    )


def _settle_events(
    batch_id: int, settled: list[tuple[str, str, int]], users: dict[int, int]
) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """The audit events of deliveries settled without a message, by action."""
    events: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for status, reason, delivery_id in settled:
        events.setdefault(f"delivery_{status}", []).append(
            (
                users[delivery_id],
                {"batch_id": batch_id, "delivery_id": delivery_id, "reason": reason},
            )
        )
    return events


def _send_chunk(
    batch: CredentialBatch,
    claimed: _Claimed,
    transport: Any,
    actor: User | str,
    upcoming: steps.Stepper[_Claimed | None],
) -> str | None:
    """Send a claimed chunk; return the interruption reason if the channel died.

    While the server answers, the job records outcomes and claims the next chunk in
    small steps. A group of outcomes runs to its commit before the claim goes on, and a
    claim that has half written a piece (links without their audit events) finishes the
    piece first: no commit ever holds a credential or an outcome without its event.
    """
    recorder = _Recorder(batch, {claim.delivery_id: claim for claim in claimed.ready}, actor)

    def background() -> bool:
        if upcoming.half_written:
            return upcoming.step()
        return recorder.step() or upcoming.step()

    def settle() -> None:
        # Before each message goes out, the outcomes before it are committed (in groups
        # of DELIVERY_COMMIT_EVERY): what a crash can repeat is what is not.
        while upcoming.half_written:
            upcoming.step()
        while recorder.step():
            pass

    transport.send_all(_outgoing(batch.channel, claimed.prepared), recorder, background, settle)
    while upcoming.half_written:  # a piece caught half written by a lost connection
        upcoming.step()
    # Anything the channel never reported on goes back in the queue (re-issued next time).
    for claim in claimed.ready:
        if claim.delivery_id not in recorder.seen:
            recorder(Outcome(claim.delivery_id, Result.INTERRUPTED, "no outcome reported"))
    recorder.flush()
    _refresh_counts(batch)
    batch.heartbeat_at = utcnow()
    db.session.commit()
    return recorder.interruption


def _read_people(
    ids: list[int],
) -> steps.Steps[tuple[dict[int, Any], dict[int, list[int]], dict[int, str]]]:
    """Read a chunk's people as rows: (people by id, school ids by person, school names)."""
    people = {row.id: row for row in db.session.execute(_PEOPLE, {"ids": ids})}
    yield False
    memberships: dict[int, list[int]] = {}
    for user_id, school_id in db.session.execute(_MEMBERSHIPS, {"ids": ids}):
        memberships.setdefault(user_id, []).append(school_id)
    for held in memberships.values():
        held.sort()
    yield False
    school_ids = list({school_id for held in memberships.values() for school_id in held})
    names = dict(db.session.execute(_SCHOOL_NAMES, {"ids": school_ids}).all())
    yield False
    return people, memberships, names


def _load_users(ids: list[int]) -> list[User]:
    """Load people as User objects, in the given order (kinds that need the ORM)."""
    users = {user.id: user for user in db.session.scalars(select(User).where(User.id.in_(ids)))}
    return [users[user_id] for user_id in ids]


def _issue_steps(
    batch: CredentialBatch,
    people: list[tuple[Any, dict[str, Any]]],
    actor: User | str,
    now: datetime,
) -> steps.Steps[dict[int, tuple[str, datetime]]]:
    """Issue one fresh credential per person; return the plain secret and its expiry.

    `people` pairs each person's row with their school's settings. Links are issued in
    small steps; passwords and codes (hashing dominates those) in one.
    """
    if batch.kind == "link":
        issued = yield from links.issue_links_steps(
            [
                links.LinkRequest(person.id, person.invited_at, links.lifetime_in("invite", cfg))
                for person, cfg in people
            ],
            purpose="invite",
            actor=actor,
            batch_id=batch.id,
            now=now,
        )
        return {link.user_id: (link.url, link.expires_at) for link in issued}
    users = _load_users([person.id for person, _ in people]) if people else []
    if batch.kind == "password":
        issued = temp_passwords.issue_temporary_passwords(
            users, actor, batch_id=batch.id, now=now, check_scope=False
        )
        return {item.user_id: (item.password, item.expires_at) for item in issued}
    if batch.kind == "parent-code":
        result = {}
        for user in users:
            code = codes.issue_parent_code(user, actor=actor, batch_id=batch.id, now=now)
            result[user.id] = (code.formatted, code.expires_at)
        return result
    raise ValueError(f"unknown kind {batch.kind!r}")


def _outgoing(channel: str, prepared: Sequence[Prepared]) -> Iterator[Any]:
    """Render each message just before it is needed, so rendering overlaps sending."""
    for item in prepared:
        if channel == "email":
            yield email.OutgoingEmail(item.delivery_id, messages.email_message(item))
        else:
            yield sms.OutgoingSms(item.delivery_id, item.to, messages.sms_text(item))


class _Recorder:
    """Record outcomes as they arrive and commit them, in small steps.

    A group is formed every DELIVERY_COMMIT_EVERY outcomes (1 by default) or
    DELIVERY_COMMIT_SECONDS, whichever comes first, and at the end of the chunk; its steps
    run while the server answers, and `settle` finishes them before the next message goes
    out. Each row and its audit event commit together.
    """

    def __init__(
        self, batch: CredentialBatch, claimed: dict[int, _Claim], actor: User | str
    ) -> None:
        cfg = current_app.config
        self.batch_id = batch.id
        self.channel = batch.channel
        self.claimed = claimed
        self.actor = actor
        self.delays = list(cfg["DELIVERY_RETRY_DELAYS"]) or [0]
        self.max_attempts = cfg["DELIVERY_MAX_ATTEMPTS"]
        self.every = max(1, cfg["DELIVERY_COMMIT_EVERY"])
        self.seconds = cfg["DELIVERY_COMMIT_SECONDS"]
        self.seen: set[int] = set()
        self.rows: list[tuple] = []
        self.events: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.groups: deque[Iterator[None]] = deque()  # group commits still to run
        self.last_commit = time.monotonic()
        self.interruption: str | None = None

    def __call__(self, outcome: Outcome) -> None:
        claim = self.claimed[outcome.delivery_id]
        self.seen.add(outcome.delivery_id)
        now = utcnow()
        details: dict[str, Any] = {"batch_id": self.batch_id, "delivery_id": claim.delivery_id}
        # (status, sent_at, error, next_attempt_at, delivery id), as _OUTCOME takes them
        row: tuple[str, datetime | None, str | None, datetime | None, int]
        if outcome.result is Result.SENT:
            row = ("sent", now, None, None, claim.delivery_id)
            action = "delivery_sent"
            details.update(channel=self.channel, route=claim.route)
        elif outcome.result is Result.FAILED or (
            outcome.result is Result.RETRY and claim.attempts >= self.max_attempts
        ):
            reason = outcome.error or "refused"
            if outcome.result is Result.RETRY:
                reason = f"gave up after {claim.attempts} attempts: {reason}"
            row = ("failed", None, reason, None, claim.delivery_id)
            action = "delivery_failed"
            details.update(reason=reason)
        elif outcome.result is Result.RETRY:
            delay = self.delays[min(claim.attempts, len(self.delays)) - 1]
            retry_at = now + timedelta(seconds=delay)
            row = ("queued", None, f"temporary: {outcome.error}", retry_at, claim.delivery_id)
            action = "delivery_deferred"
            details.update(reason=outcome.error)
        else:
            self.interruption = self.interruption or outcome.error or "connection lost"
            row = ("queued", None, f"interrupted: {outcome.error}", None, claim.delivery_id)
            action = "delivery_deferred"
            details.update(reason=outcome.error)
        self.rows.append(row)
        self.events.setdefault(action, []).append((claim.user_id, details))
        if len(self.rows) >= self.every or time.monotonic() - self.last_commit >= self.seconds:
            # Commit this group in small steps, run while the server works.
            self.groups.append(self._commit(self.rows, self.events))
            self.rows, self.events = [], {}
            self.last_commit = time.monotonic()

    def _commit(
        self, rows: list[tuple], events: dict[str, list[tuple[int, dict[str, Any]]]]
    ) -> Iterator[None]:
        """Write a group of outcomes and their audit events a few at a time, then commit."""
        yield from _OUTCOME.steps(rows, 5)
        for action, group in events.items():
            yield from audit.record_many_ids_steps(self.actor, action, "user", group, 5)
        commit_in_place()

    def step(self) -> bool:
        """Run one step of a pending group commit; False when there is none."""
        if not self.groups:
            return False
        try:
            next(self.groups[0])
        except StopIteration:  # that step was the group's commit
            self.groups.popleft()
        return True

    def flush(self) -> None:
        """Commit everything recorded so far."""
        while self.step():
            pass
        steps.run(self._commit(self.rows, self.events))
        self.rows, self.events = [], {}
        self.last_commit = time.monotonic()
