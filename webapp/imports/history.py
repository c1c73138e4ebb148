"""The import history an admin may see, and its downloads. Every query here is scoped."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, or_, select

from webapp.csv_safe import SafeWriter
from webapp.extensions import db
from webapp.imports.states import ALERT_STATUSES
from webapp.models import (
    ImportRun,
    Role,
    School,
    User,
)
from webapp.roster.problems import errors_first
from webapp.services import audit, scope
from webapp.services.errors import NotAllowed

PAGE_SIZE = 50


def visible_runs(actor: User) -> Select[tuple[ImportRun]]:
    """Select the runs this admin may see: their schools', and their own district runs."""
    query = select(ImportRun).order_by(ImportRun.created_at.desc(), ImportRun.id.desc())
    if actor.role != Role.ADMIN:
        return query.where(ImportRun.id.is_(None))
    if actor.district_wide:
        return query
    return query.where(
        or_(
            ImportRun.school_id.in_(scope.visible_school_ids(actor)),
            (ImportRun.school_id.is_(None)) & (ImportRun.requested_by_id == actor.id),
        )
    )


def require_run(actor: User, run_id: int) -> ImportRun:
    """Load a run the actor may see, or refuse (404 and an authz_denied audit row)."""
    run = db.session.scalar(visible_runs(actor).where(ImportRun.id == run_id))
    if run is None:
        raise NotAllowed("import run outside scope", "import_run", run_id)
    return run


def history_page(actor: User, page: int) -> tuple[list[ImportRun], int, int]:
    """Return one page of the actor's import history, the page number and the page count."""
    query = visible_runs(actor)
    total = db.session.scalar(query.with_only_columns(func.count()).order_by(None)) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    rows = db.session.scalars(query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    return list(rows), page, pages


def alert_runs(actor: User, limit: int = 5) -> list[ImportRun]:
    """Return the latest failed or stopped runs the actor should look at."""
    return list(
        db.session.scalars(
            visible_runs(actor)
            .where(ImportRun.status.in_(ALERT_STATUSES), ImportRun.finished_at.is_not(None))
            .limit(limit)
        )
    )


def school_names(ids: Sequence[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(
        db.session.execute(select(School.id, School.name).where(School.id.in_(wanted))).all()
    )


def usernames(ids: Sequence[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(db.session.execute(select(User.id, User.username).where(User.id.in_(wanted))).all())


PROBLEM_COLUMNS = ("severity", "file", "line", "column", "message")


def problems_csv(run: ImportRun, *, actor: User) -> str:
    """Return the run's problems as CSV, formula cells neutralised; audited."""
    out = io.StringIO()
    writer = SafeWriter(out)
    writer.writerow(PROBLEM_COLUMNS)
    for problem in errors_first(run.row_errors or []):
        writer.writerow(["" if problem.get(c) is None else problem.get(c) for c in PROBLEM_COLUMNS])
    audit.record(actor, "export_downloaded", run, kind="import_problems", rows=len(run.row_errors))
    return out.getvalue()


def paginate(items: Sequence[Any], page: int, size: int = PAGE_SIZE) -> tuple[list[Any], int]:
    """Return one page of items and the number of pages."""
    pages = max(1, -(-len(items) // size))
    page = min(max(page, 1), pages)
    return list(items[(page - 1) * size : page * size]), pages
