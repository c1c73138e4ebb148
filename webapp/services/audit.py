"""Append-only audit trail, written in the caller's transaction."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from webapp.extensions import db
from webapp.models import AuditEvent, User, utcnow
from webapp.models.bulk import BulkWrite

_INSERT_MANY = BulkWrite(
    AuditEvent.__table__,
    (
        "created_at",
        "actor_id",
        "actor_label",
        "action",
        "ip",
        "request_id",
        "target_type",
        "target_id",
        "details",
    ),
)
# Detail keys that would smell of a secret; details carrying them are refused outright.
_SECRET_WORDS = ("password", "token", "secret")
_SECRET_KEYS = frozenset({"code", "parent_code", "pin", "url", "reset_url", "link_url"})


class SystemActor(enum.StrEnum):
    """Who acts when no person does: housekeeping, timers, a batch whose requester is gone."""

    SYSTEM = "system"
    ANONYMOUS = "anonymous"  # someone not signed in (a failed sign-in, say)
    CLI = "cli"  # a shell command that acts as no named person (creating the first admin)


SYSTEM = SystemActor.SYSTEM
ANONYMOUS = SystemActor.ANONYMOUS
CLI = SystemActor.CLI
# Every audit row names a person or the system: never a free-form string.
Actor = User | SystemActor


@dataclass(frozen=True, slots=True)
class Origin:
    ip: str | None = None
    request_id: str | None = None


# Set by the web layer for each request, and by jobs and the CLI for theirs.
current_origin: ContextVar[Origin] = ContextVar(
    "audit_origin",
    default=Origin(),  # noqa: B039 (Origin is frozen)
)


@lru_cache(maxsize=256)
def _check_key_set(keys: tuple[str, ...]) -> None:
    """Refuse keys that smell of a secret; the code uses a few key sets, each checked once."""
    for key in keys:
        if key.lower() in _SECRET_KEYS or any(w in key.lower() for w in _SECRET_WORDS):
            raise ValueError(f"audit details may not carry {key!r}")


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a bulk write: what happened to which target, and its details."""

    action: str
    target_type: str | None = None
    target_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _actor_fields(actor: Actor | None) -> tuple[int | None, str]:
    if isinstance(actor, User):
        return actor.id, actor.username
    return None, SystemActor(actor or SYSTEM).value


def record_many(
    actor: Actor | None, action: str, events: Sequence[tuple[Any, dict[str, Any]]]
) -> int:
    """Add many events of one action in one INSERT (bulk jobs); the caller commits."""
    # Bulk events mostly share one kind of target: name each target class once.
    type_names: dict[type, str] = {}
    rows = []
    for target, details in events:
        if target is None:
            rows.append((None, None, details))
            continue
        cls = type(target)
        target_type = type_names.get(cls) or type_names.setdefault(cls, cls.__name__.lower())
        rows.append((target_type, getattr(target, "id", None), details))
    return _insert(actor, action, rows)


def record_many_ids(
    actor: Actor | None,
    action: str,
    target_type: str,
    events: Sequence[tuple[int, dict[str, Any]]],
) -> int:
    """Like record_many, for targets known only by id (jobs that read plain rows)."""
    return _insert(
        actor, action, [(target_type, target_id, details) for target_id, details in events]
    )


def record_events(
    actor: Actor | None, events: Iterable[Event], *, at: datetime | None = None
) -> int:
    """Add many events, of any actions, by one actor; the only bulk writer. Caller commits.

    Every event gets the same time (`at`, else now): they are one change, such as an
    import stamping the accounts it touched with its own finishing time.
    """
    origin = current_origin.get()
    actor_id, actor_label = _actor_fields(actor)
    created_at = at or utcnow()
    rows = []
    for event in events:
        _check_key_set(tuple(event.details))
        rows.append(
            (
                created_at,
                actor_id,
                actor_label,
                event.action,
                origin.ip,
                origin.request_id,
                event.target_type,
                event.target_id,
                event.details,
            )
        )
    if rows:
        _INSERT_MANY(rows)
    return len(rows)


def _insert(
    actor: Actor | None,
    action: str,
    events: Sequence[tuple[str | None, int | None, dict[str, Any]]],
) -> int:
    return record_events(
        actor,
        (
            Event(action, target_type, target_id, details)
            for target_type, target_id, details in events
        ),
    )


def record(
    actor: Actor | None,
    action: str,
    target: Any = None,
    **details: Any,
) -> AuditEvent:
    """Add an audit event to the session; the caller's commit makes it permanent."""
    _check_key_set(tuple(details))
    origin = current_origin.get()
    actor_id, actor_label = _actor_fields(actor)
    event = AuditEvent(
        actor_id=actor_id,
        actor_label=actor_label,
        action=action,
        target_type=type(target).__name__.lower() if target is not None else None,
        target_id=getattr(target, "id", None),
        details=details,
        ip=origin.ip,
        request_id=origin.request_id,
    )
    db.session.add(event)
    return event
