"""The preview page: one page of one tab of a planned upload, cached encrypted per run."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from webapp.extensions import db
from webapp.imports.fingerprint import db_fingerprint
from webapp.imports.history import paginate, school_names
from webapp.imports.mapping import date_readings
from webapp.imports.plan import ImportPlan, chunks
from webapp.imports.runs import build_plan, remember_preview
from webapp.imports.states import CSV_FORMAT
from webapp.models import (
    Class,
    Enrollment,
    ImportRun,
    School,
    User,
)
from webapp.roster import DateQuestion
from webapp.roster.problems import capped, errors_first
from webapp.services import uploads

TABS = ("new", "changed", "leaving", "removed", "problems")


@dataclass
class SchoolShare:
    """What one school the file covers would lose, and which kinds cross the limit."""

    name: str
    people: int
    people_total: int
    memberships: int
    classes: int
    classes_total: int
    enrollments: int
    enrollments_total: int
    over: list[str]

    @property
    def over_limit(self) -> bool:
        return bool(self.over)


@dataclass
class Preview:
    """One page of one tab of a planned upload, as plain values the page shows."""

    counts: dict[str, int]
    errors: int
    # Errors no choice gets past; the others "apply the rest" can leave out.
    blocking: int
    needs_confirmation: bool
    threshold: float
    tab: str
    rows: list[dict[str, Any]]
    page: int
    pages: int
    tab_sizes: dict[str, int]
    shares: list[SchoolShare]
    # Date columns that could be read day or month first: open questions have order None.
    date_questions: list[DateQuestion] = dataclasses.field(default_factory=list)
    # The problems tab's filters, and the files it can filter by.
    severity: str = ""
    file: str = ""
    problem_files: list[str] = dataclasses.field(default_factory=list)
    # A spreadsheet's school values: {"value", "school" (its name, or None), "new"}.
    named_schools: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def unknown_schools(self) -> bool:
        return any(not row["school"] and not row["new"] for row in self.named_schools)

    @property
    def date_question(self) -> DateQuestion | None:
        """Return the day/month question to show: an open one first, else the answered one."""
        questions = sorted(self.date_questions, key=lambda q: q.order is not None)
        return questions[0] if questions else None

    @property
    def date_choices(self) -> list[tuple[str, str, str]]:
        """Return (order, label, example read that way) for the question's answers."""
        question = self.date_question
        return date_readings(question) if question else []


def preview(
    run: ImportRun,
    *,
    actor: User,
    tab: str = "new",
    page: int = 1,
    severity: str = "",
    file: str = "",
) -> Preview:
    """Return one page of one tab of the upload's plan. Writes nothing.

    The problems tab lists errors first, at most SIMILAR_LIMIT of a kind, and may be
    filtered by severity and by file; the counts and the problems CSV keep every one.

    Planning a district file takes seconds, so refresh() (called by whatever changes what
    the preview depends on, never by a page view) keeps every tab, encrypted like the
    upload; this reads it back while nothing it depends on has moved: the admin, the run's
    options and every value the source controls (db_fingerprint). Otherwise it plans in
    memory and keeps nothing, so a GET never writes.
    """
    data = _cached_preview(run, _preview_tag(run, actor))
    if data is None:
        data = _preview_data(build_plan(run, actor=actor))
    tabs = data["tabs"]
    tab = tab if tab in TABS else ("problems" if data["errors"] else "new")
    items = tabs[tab]
    if tab == "problems":
        items = capped(
            p
            for p in items
            if (not severity or p["severity"] == severity) and (not file or p["file"] == file)
        )
    rows, pages = paginate(items, page)
    return Preview(
        counts=data["counts"],
        errors=data["errors"],
        blocking=data.get("blocking", data["errors"]),
        needs_confirmation=data["needs_confirmation"],
        threshold=data["threshold"],
        tab=tab,
        rows=rows,
        page=min(max(page, 1), pages),
        pages=pages,
        tab_sizes={name: len(items) for name, items in tabs.items()},
        shares=[SchoolShare(**share) for share in data["shares"]],
        date_questions=[DateQuestion(**q) for q in data["date_questions"]],
        severity=severity,
        file=file,
        problem_files=sorted({p["file"] for p in tabs["problems"]}),
        named_schools=data.get("named_schools", []),
    )


def refresh(run: ImportRun, *, actor: User) -> None:
    """Plan the upload and keep its preview, counts and problems on the run; caller commits.

    Called where a preview's inputs change (upload, columns, choices) and by the apply job
    when it stops for confirmation; never by a page view.
    """
    keep_preview(run, build_plan(run, actor=actor), actor=actor)


def keep_preview(run: ImportRun, plan: ImportPlan, *, actor: User) -> None:
    """Keep a plan of the run as its preview for this admin; caller commits."""
    remember_preview(run, plan)
    # Tagged after remember_preview, which may set the run's school (a tag input).
    _cache_preview(run, _preview_tag(run, actor), _preview_data(plan))


def _preview_data(plan: ImportPlan) -> dict[str, Any]:
    """Everything the preview page shows, as JSON-ready values."""
    limit = plan.options.deactivation_threshold
    names = school_names(list(plan.removals))
    reactivated = {id(change) for change in plan.reactivate}

    def person(change: Any) -> dict[str, Any]:
        record = change.record
        return {
            "name": f"{record.given_name} {record.family_name}",
            "role": record.role,
            "username": change.username,
            "file": record.file,
            "line": record.line,
        }

    return {
        "counts": plan.counts(),
        "errors": len(plan.errors),
        "blocking": len(plan.blocking_errors),
        "needs_confirmation": plan.needs_confirmation,
        "threshold": limit,
        "tabs": {
            "new": [person(c) for c in plan.new],
            "changed": [
                {
                    **person(c),
                    "reactivated": id(c) in reactivated,
                    "changes": [[name, old, new] for name, (old, new) in c.changes.items()],
                }
                for c in plan.updated + plan.reactivate
            ],
            "leaving": [
                {"name": x.name, "username": x.username, "role": x.role, "reason": x.reason}
                for x in plan.deactivate
            ],
            "removed": removed_rows(plan),
            "problems": errors_first(p.as_dict() for p in plan.problems),
        },
        "shares": [
            {
                **dataclasses.asdict(removals),
                "name": names.get(school_id, f"School {school_id}"),
                "over": removals.over(limit),
            }
            for school_id, removals in sorted(plan.removals.items())
            if removals.any
        ],
        "date_questions": [dataclasses.asdict(q) for q in plan.roster.date_questions],
        "named_schools": _named_schools(plan),
    }


def removed_rows(plan: ImportPlan) -> list[dict[str, str]]:
    """List every class, class place and school membership the plan removes, by school."""
    rows: list[dict[str, str]] = []
    classes = Class.__table__
    for chunk in chunks(plan.removed_classes):
        query = (
            select(School.name, classes.c.title)
            .join(School, School.id == classes.c.school_id)
            .where(classes.c.id.in_(chunk))
        )
        rows += [
            {"school": school, "kind": "class", "what": title, "who": ""}
            for school, title in db.session.execute(query)
        ]
    for chunk in chunks(plan.enrollments_remove):
        query = (
            select(School.name, Class.title, User.given_name, User.family_name, User.username)
            .select_from(Enrollment)
            .join(Class, Class.id == Enrollment.class_id)
            .join(School, School.id == Class.school_id)
            .join(User, User.id == Enrollment.user_id)
            .where(Enrollment.id.in_(chunk))
        )
        rows += [
            {"school": school, "kind": "class place", "what": title, "who": f"{g} {f} ({u})"}
            for school, title, g, f, u in db.session.execute(query)
        ]
    schools = school_names([school_id for _, school_id in plan.memberships_remove])
    people = _people_labels([user_id for user_id, _ in plan.memberships_remove])
    rows += [
        {
            "school": schools.get(school_id, ""),
            "kind": "school membership",
            "what": "leaves this school, stays at another",
            "who": people.get(user_id, ""),
        }
        for user_id, school_id in plan.memberships_remove
    ]
    return sorted(rows, key=lambda row: (row["school"], row["kind"], row["what"], row["who"]))


def _people_labels(ids: Sequence[int]) -> dict[int, str]:
    labels: dict[int, str] = {}
    for chunk in chunks(sorted(set(ids))):
        query = select(User.id, User.given_name, User.family_name, User.username).where(
            User.id.in_(chunk)
        )
        labels.update({i: f"{g} {f} ({u})" for i, g, f, u in db.session.execute(query)})
    return labels


def _named_schools(plan: ImportPlan) -> list[dict[str, Any]]:
    """Say which school each of a spreadsheet's school values maps to, or that it is new."""
    if plan.roster.format != CSV_FORMAT:
        return []
    names = school_names(list(plan.school_ids.values()))
    new = {value for value, _ in plan.new_schools}
    return [
        {
            "value": record.sourced_id,
            "school": names.get(plan.school_ids.get(record.sourced_id, 0)),
            "new": record.sourced_id in new,
        }
        for record in plan.roster.schools
    ]


def _preview_tag(run: ImportRun, actor: User) -> str:
    """Name what a preview depends on: the admin, the run's choices and the database."""
    choices = json.dumps(
        [
            actor.id,
            run.mode,
            run.format,
            run.school_id,
            run.source,
            run.complete,
            run.username_template,
            run.date_order,
            run.passwords,
            run.skip_errors,
            run.create_schools,
            run.options,
        ],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(f"{choices}|{db_fingerprint(run.source)}".encode()).hexdigest()


def _cached_preview(run: ImportRun, tag: str) -> dict[str, Any] | None:
    if not run.preview_key or run.preview_tag != tag:
        return None
    try:
        _, data = uploads.load_upload(run.preview_key)
    except uploads.UploadMissing:
        return None
    return json.loads(data)


def _cache_preview(run: ImportRun, tag: str, data: dict[str, Any]) -> None:
    """Keep the preview encrypted beside the upload (names and addresses are personal)."""
    old = run.preview_key
    run.preview_key = uploads.store_upload("preview.json", json.dumps(data, default=str).encode())
    run.preview_tag = tag
    if old:
        uploads.delete_upload(old)
    db.session.flush()
