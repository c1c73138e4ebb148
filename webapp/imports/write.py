"""Write an import plan all at once, inside the caller's transaction.

`apply_plan()` writes the plan with bulk statements, so an import is all-or-nothing: a
process killed half-way leaves the database as it was, and the import can simply be run again.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, tuple_, update

from webapp.extensions import db
from webapp.imports.plan import (
    PERSON_FIELDS,
    ImportPlan,
    account_role,
    chunks,
    new_school_ids,
    person_schools,
    wanted_values,
    warn,
)
from webapp.imports.plan_passwords import using_their_account
from webapp.models import (
    Class,
    Enrollment,
    GuardianLink,
    ImportCounts,
    ImportRun,
    ParentCode,
    School,
    SetPasswordToken,
    User,
    user_schools,
    utcnow,
)
from webapp.models.base import new_epoch
from webapp.models.bulk import BulkWrite
from webapp.roster.bulk import paused_gc
from webapp.services import audit, passwords, settings

_EPOCH_BYTES = len(new_epoch()) // 2


def _id_map(model: type, source: str) -> dict[str, int]:
    """Map this source's sourced ids to Keyslip ids for a table."""
    table = model.__table__
    query = select(table.c.sourced_id, table.c.id).where(table.c.source == source)
    return dict(db.session.execute(query).all())


def _new_epochs(count: int) -> Iterator[str]:
    """Yield count fresh credential epochs, as new_epoch() makes them, from one urandom call."""
    pool = secrets.token_bytes(_EPOCH_BYTES * count).hex()
    step = 2 * _EPOCH_BYTES
    return (pool[i : i + step] for i in range(0, len(pool), step))


def _void_links(user_ids: list[int], now: datetime) -> None:
    """Void the outstanding set-password links of these people."""
    db.session.execute(
        update(SetPasswordToken)
        .where(
            SetPasswordToken.user_id.in_(user_ids),
            SetPasswordToken.used_at.is_(None),
            SetPasswordToken.voided_at.is_(None),
        )
        .values(voided_at=now)
    )


def _user_events(action: str, user_ids: Iterable[int], **details: Any) -> list[audit.Event]:
    return [audit.Event(action, "user", user_id, details) for user_id in user_ids]


def apply_plan(plan: ImportPlan, *, actor: User, run: ImportRun | None = None) -> ImportRun:
    """Write the plan in the caller's transaction and record it on an ImportRun.

    Fills in `run` when given (a previewed upload being applied), else adds a new one.
    The caller commits.
    """
    with paused_gc():
        return _apply_plan(plan, actor, run)


def _apply_plan(plan: ImportPlan, actor: User, run: ImportRun | None) -> ImportRun:
    if not plan.errors_allow_apply:
        raise ValueError("an import with errors cannot be applied")
    if plan.needs_confirmation and not plan.options.confirm_deactivation:
        raise ValueError("these deactivations need an explicit confirmation")
    # Hashing is the slow part and may fail: it is done before anything is written.
    new_hashes, reset_hashes = _hash_file_passwords(plan)
    _leave_alone_if_started(plan, reset_hashes)
    now = utcnow()
    source = plan.options.source
    session = db.session

    # Schools.
    school_ids = dict(plan.school_ids)
    if plan.new_schools:
        session.execute(
            insert(School.__table__),
            [
                {"name": name, "source": source, "sourced_id": sid, "created_at": now}
                for sid, name in plan.new_schools
            ],
        )
        school_ids.update(_id_map(School, source))

    # People.
    user_ids: dict[str, int] = {}
    for change in plan.updated + plan.reactivate:
        user_ids[change.record.sourced_id] = change.user_id
    user_columns = (
        "source",
        "sourced_id",
        "username",
        "role",
        *PERSON_FIELDS,
        "credential_epoch",
        "must_change_password",
        "district_wide",
        "failed_login_count",
        "created_at",
    )
    epochs = _new_epochs(len(plan.new))
    BulkWrite(User.__table__, user_columns)(
        (
            (
                source,
                c.record.sourced_id,
                c.username,
                account_role(c.record),
                *wanted_values(c.record),
                next(epochs),
                False,
                False,
                0,
                now,
            )
            for c in plan.new
        ),
    )
    for sid, user_id in _id_map(User, source).items():
        user_ids.setdefault(sid, user_id)
    plan.created_user_ids = [user_ids[c.record.sourced_id] for c in plan.new]
    new_schools = new_school_ids(plan)
    memberships = {
        (user_ids[c.record.sourced_id], school_ids[sid])
        for c in plan.new
        for sid in person_schools(plan, c.record, new_schools)
        if sid in school_ids
    }
    wanted_existing = {
        (user_ids[person_sid], school_ids[sid])
        for person_sid, sid in plan.memberships_add
        if person_sid in user_ids and sid in school_ids
    }
    if wanted_existing:
        # The memberships of the schools concerned, read straight from the (covering)
        # primary key: a 50,000-id IN list costs more to compile, a join to users more to run.
        have = set(
            session.execute(
                select(user_schools.c.user_id, user_schools.c.school_id).where(
                    user_schools.c.school_id.in_({school for _, school in wanted_existing})
                )
            )
            .tuples()
            .all()
        )
        memberships |= wanted_existing - have
    BulkWrite(user_schools, ("user_id", "school_id"))(sorted(memberships))
    password_targets = {user_ids[sid]: digest for sid, digest in new_hashes.items()}
    password_targets.update(reset_hashes)
    expiries = _write_passwords(password_targets, list(reset_hashes), now)
    updates = [
        {"id": c.user_id, **{name: new for name, (_, new) in c.changes.items()}}
        for c in plan.updated + plan.reactivate
        if c.changes
    ]
    email_changed = [
        c.user_id
        for c in plan.updated + plan.reactivate
        if "email" in c.changes or "phone" in c.changes
    ]
    for chunk in chunks(updates):
        session.execute(update(User), chunk)
    reactivated = [c.user_id for c in plan.reactivate]
    if reactivated:
        session.execute(
            update(User),
            [
                {"id": uid, "deactivated_at": None, "credential_epoch": new_epoch()}
                for uid in reactivated
            ],
        )
    if email_changed:
        # A changed address kills links sent to the old one (SECURITY A3).
        session.execute(
            update(User), [{"id": uid, "credential_epoch": new_epoch()} for uid in email_changed]
        )
    deactivated = [leaver.user_id for leaver in plan.deactivate]
    for chunk in chunks(deactivated):
        session.execute(
            update(User),
            [{"id": uid, "deactivated_at": now, "credential_epoch": new_epoch()} for uid in chunk],
        )
        _void_links(chunk, now)
        session.execute(
            update(ParentCode)
            .where(ParentCode.student_id.in_(chunk), ParentCode.voided_at.is_(None))
            .values(voided_at=now)
        )

    left = plan.memberships_remove
    for chunk in chunks(left):
        session.execute(
            delete(user_schools).where(
                tuple_(user_schools.c.user_id, user_schools.c.school_id).in_(chunk)
            )
        )

    # Classes and enrollments.
    if plan.new_classes:
        titles = {r.sourced_id: r for r in plan.roster.classes}
        session.execute(
            insert(Class.__table__),
            [
                {
                    "source": source,
                    "sourced_id": sid,
                    "school_id": school_ids[school_sid],
                    "title": title,
                    "class_code": titles[sid].class_code,
                    "grades": ",".join(titles[sid].grades) or None,
                    "created_at": now,
                }
                for sid, school_sid, title in plan.new_classes
            ],
        )
    class_ids = _id_map(Class, source)
    if plan.updated_classes:
        session.execute(
            update(Class), [{"id": cid, **values} for cid, values in plan.updated_classes.items()]
        )
    for chunk in chunks(plan.enrollments_remove):
        session.execute(delete(Enrollment).where(Enrollment.id.in_(chunk)))
    for chunk in chunks(plan.removed_classes):
        session.execute(delete(Class).where(Class.id.in_(chunk)))
    BulkWrite(Enrollment.__table__, ("class_id", "user_id", "role", "primary", "created_at"))(
        (
            (class_ids[c], user_ids[u], role, primary, now)
            for c, u, role, primary in sorted(plan.enrollments_add)
            if c in class_ids and u in user_ids
        ),
    )

    # Guardian links.
    for sid, user_id in plan.linked_students.items():
        user_ids.setdefault(sid, user_id)
    for chunk in chunks(plan.links_remove):
        session.execute(delete(GuardianLink).where(GuardianLink.id.in_(chunk)))
    links = [
        {
            "parent_id": user_ids[p],
            "student_id": user_ids[s],
            "origin": "roster",
            "relation": plan.link_relations.get((p, s)),
            "created_at": now,
        }
        for p, s in sorted(plan.links_add)
        if p in user_ids and s in user_ids
    ]
    if links:
        created = set(plan.created_user_ids)
        # A link to someone this import created cannot exist yet (nor one made by a code).
        pairs = [
            (row["parent_id"], row["student_id"])
            for row in links
            if row["parent_id"] not in created and row["student_id"] not in created
        ]
        existing = set()
        for chunk in chunks(pairs):
            existing |= set(
                session.execute(
                    select(GuardianLink.parent_id, GuardianLink.student_id).where(
                        tuple_(GuardianLink.parent_id, GuardianLink.student_id).in_(chunk)
                    )
                ).tuples()
            )
        columns = ("parent_id", "student_id", "origin", "relation", "created_at")
        BulkWrite(GuardianLink.__table__, columns)(
            (
                (row["parent_id"], row["student_id"], "roster", row["relation"], now)
                for row in links
                if (row["parent_id"], row["student_id"]) not in existing
            ),
        )

    # The record: one ImportRun, and an audit row for every account switched off or back on.
    counts = plan.counts()
    if run is None:
        run = ImportRun(requested_by_id=actor.id, source=source, created_at=now)
        session.add(run)
        run.start()
    run.school_id = run.school_id or plan.options.school_id or _only_school(school_ids)
    run.format = plan.roster.format
    run.mode = plan.options.mode
    run.applied(ImportCounts.from_dict(counts), [p.as_dict() for p in plan.problems], now)
    session.flush()
    events = _user_events("account_deactivated", deactivated, import_run=run.id)
    events += _user_events("account_reactivated", reactivated, import_run=run.id)
    for user_id, school_id in left:
        events += _user_events(
            "account_left_school", [user_id], import_run=run.id, school=school_id
        )
    events += _credential_events(expiries, run.id)
    audit.record_events(actor, events, at=now)
    audit.record(actor, "import_applied", run, source=source, **counts)
    session.flush()
    return run


def _hash_file_passwords(plan: ImportPlan) -> tuple[dict[str, str], dict[int, str]]:
    """Hash the file's passwords on every core (argon2 releases the GIL)."""
    items: list[tuple[Any, str]] = [*plan.new_passwords.items(), *plan.reset_passwords.items()]
    if not items:
        return {}, {}
    hasher = passwords.hasher()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        hashes = list(pool.map(lambda item: hasher.hash(passwords.normalise(item[1])), items))
    count = len(plan.new_passwords)
    new = {key: digest for (key, _), digest in zip(items[:count], hashes[:count], strict=True)}
    reset = {key: digest for (key, _), digest in zip(items[count:], hashes[count:], strict=True)}
    return new, reset


def _leave_alone_if_started(plan: ImportPlan, reset_hashes: dict[int, str]) -> None:
    """Drop the file passwords of people who started using their account since planning."""
    started = using_their_account(list(reset_hashes))
    for user_id in sorted(started):
        del reset_hashes[user_id]
        plan.reset_passwords.pop(user_id, None)
        plan.credentials_left_alone.append(user_id)
    if started:
        warn(
            plan,
            "upload",
            None,
            f"{len(started)} people started using their account while the import ran; "
            "their passwords were left as they are.",
        )


def _write_passwords(
    targets: dict[int, str], reset_ids: list[int], now: datetime
) -> dict[int, datetime]:
    """Make each hash its person's temporary password, as issue_temporary_passwords does.

    Must be changed at first sign-in, expires after the person's school's temp_password_days,
    rotates the credential epoch and voids outstanding set-password links. Returns each
    person's expiry.
    """
    if not targets:
        return {}
    session = db.session
    ids = sorted(targets)
    # Settings follow the person's first school, as settings.for_user() picks it.
    first_school: dict[int, int] = {}
    for chunk in chunks(ids):
        first_school.update(
            session.execute(
                select(user_schools.c.user_id, func.min(user_schools.c.school_id))
                .where(user_schools.c.user_id.in_(chunk))
                .group_by(user_schools.c.user_id)
            )
            .tuples()
            .all()
        )
    lifetimes: dict[int | None, timedelta] = {}
    expiries: dict[int, datetime] = {}
    for user_id in ids:
        school_id = first_school.get(user_id)
        if school_id not in lifetimes:
            days = settings.snapshot(school_id)["temp_password_days"]
            lifetimes[school_id] = timedelta(days=days)
        expiries[user_id] = now + lifetimes[school_id]
    epochs = _new_epochs(len(ids))
    for chunk in chunks(ids):
        session.execute(
            update(User),
            [
                {
                    "id": user_id,
                    "password_hash": targets[user_id],
                    "must_change_password": True,
                    "temp_password_expires_at": expiries[user_id],
                    "failed_login_count": 0,
                    "login_delay_until": None,
                    "credential_epoch": next(epochs),
                }
                for user_id in chunk
            ],
        )
        session.execute(
            update(User).where(User.id.in_(chunk), User.invited_at.is_(None)).values(invited_at=now)
        )
    for chunk in chunks(sorted(reset_ids)):
        _void_links(chunk, now)
    return expiries


def _credential_events(expiries: dict[int, datetime], run_id: int) -> list[audit.Event]:
    """One credential_issued event per person given a password from the file; no secret."""
    return [
        audit.Event(
            "credential_issued",
            "user",
            user_id,
            {
                "kind": "temporary_password",
                "source": "import",
                "import_run": run_id,
                "expires_at": expires.isoformat(),
            },
        )
        for user_id, expires in sorted(expiries.items())
    ]


def _only_school(school_ids: dict[str, int]) -> int | None:
    """Return the one school an import touched, so its admins see the run."""
    ids = set(school_ids.values())
    return ids.pop() if len(ids) == 1 else None
