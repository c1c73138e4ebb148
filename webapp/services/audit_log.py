"""Reading the audit trail: filtered, scoped, paged by id, and as CSV.

Read-only: the table refuses UPDATE and DELETE. Pages go by id, newest first (id order is
time order), so a page costs the same at the millionth row as at the first.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, select

from webapp.csv_safe import SafeWriter
from webapp.extensions import db
from webapp.models import AuditEvent, Role, User
from webapp.services import audit, scope, settings

PER_PAGE = 50
CSV_COLUMNS = ("id", "time_utc", "actor", "action", "target_type", "target", "details", "ip",
               "request_id")  # fmt: skip


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None  # a username, or system / anonymous / cli
    person: str | None = None  # the username the events are about
    action: str | None = None
    since: date | None = None  # days in the district's time zone, both included
    until: date | None = None


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    usernames: dict[int, str]  # target user id -> username
    next_before: int | None


def _query(actor: User, filters: AuditFilter) -> Select[tuple[AuditEvent]]:
    query = select(AuditEvent).order_by(AuditEvent.id.desc())
    if not (actor.role == Role.ADMIN and actor.district_wide):
        people = scope.visible_users(actor).with_only_columns(User.id)
        query = query.where(
            ((AuditEvent.target_type == "user") & AuditEvent.target_id.in_(people))
            | AuditEvent.actor_id.in_(people)
        )
    if filters.actor:
        query = query.where(AuditEvent.actor_label == filters.actor.strip())
    if filters.person:
        person = select(User.id).where(User.username == filters.person.strip())
        query = query.where(AuditEvent.target_type == "user", AuditEvent.target_id.in_(person))
    if filters.action:
        query = query.where(AuditEvent.action == filters.action.strip())
    if filters.since:
        query = query.where(AuditEvent.created_at >= _start_of(filters.since))
    if filters.until:
        query = query.where(AuditEvent.created_at < _start_of(filters.until + timedelta(days=1)))
    return query


def _start_of(day: date) -> datetime:
    """Midnight of a day on the district's clock, as the stored UTC time."""
    return datetime.combine(day, time(), settings.zone()).astimezone(UTC)


def page(actor: User, filters: AuditFilter, before: int | None = None) -> AuditPage:
    """One page of the events the actor may see, newest first."""
    query = _query(actor, filters)
    if before is not None:
        query = query.where(AuditEvent.id < before)
    events = list(db.session.scalars(query.limit(PER_PAGE + 1)))
    more = len(events) > PER_PAGE
    events = events[:PER_PAGE]
    return AuditPage(events, _usernames(events), events[-1].id if more else None)


def _usernames(events: list[AuditEvent]) -> dict[int, str]:
    ids = {e.target_id for e in events if e.target_type == "user" and e.target_id}
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())


def export_csv(actor: User, filters: AuditFilter) -> tuple[str, int]:
    """Every matching event as CSV; the download is itself audited, the caller commits."""
    out = io.StringIO()
    writer = SafeWriter(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for event in db.session.scalars(_query(actor, filters).execution_options(yield_per=1000)):
        count += 1
        writer.writerow(
            [
                event.id,
                event.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                event.actor_label,
                event.action,
                event.target_type or "",
                event.target_id or "",
                json.dumps(event.details, sort_keys=True, default=str),
                event.ip or "",
                event.request_id or "",
            ]
        )
    given = {k: str(v) for k, v in vars(filters).items() if v}
    audit.record(actor, "export_downloaded", kind="audit", rows=count, **given)
    return out.getvalue(), count
