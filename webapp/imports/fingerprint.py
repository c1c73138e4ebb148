"""Notice that nothing moved since the last import, so an unchanged file is skipped."""

from __future__ import annotations

import hashlib
import pickle
from datetime import date

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.imports.mapping import same_reading
from webapp.imports.plan import PERSON_FIELDS
from webapp.imports.states import APPLIED
from webapp.models import (
    Class,
    Enrollment,
    GuardianLink,
    ImportRun,
    School,
    User,
    user_schools,
)
from webapp.roster.bulk import paused_gc


def db_fingerprint(source: str) -> str:
    """Digest every value a source's imports control, to notice any change made since.

    People's fields and state, school memberships, classes, enrollments and roster guardian
    links, read with plain queries in id order, plus how many users there are in all and
    every school's name and SIS id (a spreadsheet's school column is matched by them): an
    admin's edit, a deactivation, a new link by hand, a new account or school anywhere
    change it.
    A few tenths of a second for 50,000 people.
    """
    digest = hashlib.sha256()
    people = select(User.id).where(User.source == source)
    classes = select(Class.id).where(Class.source == source)
    user_columns = [User.__table__.c[name] for name in ("id", "sourced_id", "username", "role")]
    person_columns = [User.__table__.c[name] for name in (*PERSON_FIELDS, "deactivated_at")]
    queries = (
        # Anyone added anywhere may take a username or match an email the file needs.
        select(func.count(User.id), func.max(User.id)),
        select(School.id, School.name, School.source, School.sourced_id).order_by(School.id),
        select(*user_columns, *person_columns).where(User.source == source).order_by(User.id),
        select(user_schools.c.user_id, user_schools.c.school_id)
        .where(user_schools.c.user_id.in_(people))
        .order_by(user_schools.c.user_id, user_schools.c.school_id),
        select(
            Class.id, Class.sourced_id, Class.school_id, Class.title, Class.class_code, Class.grades
        )
        .where(Class.source == source)
        .order_by(Class.id),
        select(
            Enrollment.id,
            Enrollment.class_id,
            Enrollment.user_id,
            Enrollment.role,
            Enrollment.primary,
        )
        .where(Enrollment.class_id.in_(classes))
        .order_by(Enrollment.id),
        select(GuardianLink.id, GuardianLink.parent_id, GuardianLink.student_id)
        .where(GuardianLink.origin == "roster", GuardianLink.parent_id.in_(people))
        .order_by(GuardianLink.id),
    )
    connection = db.session.connection()
    with paused_gc():
        for query in queries:
            with connection.execute(query) as result:
                # The driver's own tuples: a Row for each, with its values converted
                # (dates, enums), would cost a third more and digest nothing more.
                rows = result.cursor.fetchall()
            # pickle of plain values is deterministic and far cheaper than their repr.
            digest.update(pickle.dumps(rows, protocol=5))
    return digest.hexdigest()


def unchanged_since_last_apply(run: ImportRun) -> bool:
    """Tell whether this upload is byte-identical to the last one applied, with nothing moved.

    Same bytes, options and source, every value the source controls still as that import
    left it (db_fingerprint), and no leaving date in the file come since: planning it again
    could only answer "no changes", so it is skipped.
    """
    query = (
        select(ImportRun)
        .where(
            ImportRun.source == run.source,
            ImportRun.status == APPLIED,
            ImportRun.id != run.id,
        )
        .order_by(ImportRun.finished_at.desc(), ImportRun.id.desc())
        .limit(1)
    )
    if run.school_id is not None:
        query = query.where(ImportRun.school_id == run.school_id)
    last = db.session.scalar(query)
    if last is None or not last.upload_sha256 or last.db_fingerprint is None:
        return False
    if last.next_leave_date and last.next_leave_date <= date.today():
        return False
    return (
        last.upload_sha256 == run.upload_sha256
        and last.mode == run.mode
        and last.format == run.format
        and _same_choices(last, run)
        and last.db_fingerprint == db_fingerprint(run.source)
    )


def _same_choices(last: ImportRun, run: ImportRun) -> bool:
    """Tell whether two runs read and plan their files with the same choices."""
    return (last.complete, last.date_order, last.passwords, last.send, last.create_schools) == (
        run.complete,
        run.date_order,
        run.passwords,
        run.send,
        run.create_schools,
    ) and same_reading(last, run)
