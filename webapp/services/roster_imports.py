"""Roster imports as admins, the CLI and scheduled sync run them.

An upload becomes an ImportRun holding its options and the key of the encrypted file. The
preview re-reads that file and plans against the database (changing nothing); applying
queues a job that plans again from the same file and writes it all at once. Every query
here is scoped: an admin sees and touches only runs for their schools.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import pickle
import re
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import Select, func, or_, select, update

from webapp.csv_safe import SafeWriter
from webapp.extensions import db
from webapp.jobs import enqueue, job
from webapp.models import (
    Class,
    CredentialBatch,
    Enrollment,
    GuardianLink,
    ImportRun,
    Role,
    School,
    Setting,
    User,
    user_schools,
    utcnow,
)
from webapp.roster import DATE_ORDERS, FORMATS, DateQuestion, read_upload
from webapp.roster.apply import (
    MODES,
    PASSWORD_CHOICES,
    PERSON_FIELDS,
    ImportOptions,
    ImportPlan,
    apply_plan,
    chunks,
    plan_import,
)
from webapp.roster.bulk import paused_gc
from webapp.roster.columns import norm_header
from webapp.roster.detect import detect_format, peek_files
from webapp.roster.normalise import parse_date
from webapp.roster.problems import capped, errors_first
from webapp.roster.spreadsheet import FIELDS as SHEET_FIELDS
from webapp.roster.spreadsheet import guess_mapping, looks_like_data, unmapped_meaningful
from webapp.roster.upload import display_name, unpack_upload
from webapp.services import audit, scope, settings, uploads
from webapp.services.errors import NotAllowed, PolicyError

log = logging.getLogger(__name__)

# Statuses an ImportRun moves through. A preview waits as pending (dry run) until applied.
PENDING, RUNNING, APPLIED, FAILED = "pending", "running", "applied", "failed"
# The steps of a running import, in order, as its progress bar shows them.
READING, CHECKING, WRITING = "reading", "checking", "writing"
STAGES = (READING, CHECKING, WRITING)
NEEDS_CONFIRMATION = "needs_confirmation"
SKIPPED = "skipped"
FINISHED = frozenset({APPLIED, FAILED, SKIPPED, "previewed", "blocked"})
# Statuses the console home warns about.
ALERT_STATUSES = (FAILED, NEEDS_CONFIRMATION)
MAPPING_SETTING = "roster.csv_mapping"
# The day/month order last chosen for a school's ambiguous dates, used until changed (the
# same SIS writes its dates the same way every time, and a scheduled sync cannot ask).
DATE_ORDER_SETTING = "roster.date_order"
ROLE_CONSTANTS = ("=student", "=teacher", "=staff", "=parent")
_TEMPLATE_FIELDS = re.compile(r"\{([^{}]*)\}")
CSV_FORMAT = "csv"
PAGE_SIZE = 50
# How the accounts an import creates get their credentials once it is applied: "none" leaves
# them "not sent" (unless the school's notify settings send them), else a batch by channel.
SEND_CHOICES = ("none", "email", "sms", "print")


@dataclass
class ImportRequest:
    """What the admin chose on the upload form (or the CLI's flags)."""

    format: str = "auto"
    mode: str = "add-update"
    complete: bool | None = None
    school_id: int | None = None
    username_template: str = "{first}.{last}"
    source: str | None = None
    # "DMY" or "MDY": how to read date columns whose values fit either order.
    date_order: str | None = None
    # "keep" (the import never touches passwords) or "set" (from the file's password column).
    passwords: str = "keep"
    # After applying, send the new accounts their credentials: "none" or a channel.
    send: str = "none"
    # Apply everything but the rows in error and what depends on them.
    skip_errors: bool = False
    # Create the schools a spreadsheet's school column names that Keyslip does not have.
    create_schools: bool = False
    # False: a spreadsheet's first row is data; its columns are mapped by position.
    has_header: bool = True


def default_source(fmt: str, school_id: int | None) -> str:
    """Name the id namespace for an import.

    SIS exports share one deployment-wide source; a spreadsheet's ids are only unique in
    its own school, so each school's spreadsheets get their own.
    """
    if fmt == CSV_FORMAT:
        return f"csv:{school_id}" if school_id else "csv"
    return current_app.config["ROSTER_SOURCE"]


def check_request(request: ImportRequest, *, actor: User) -> None:
    """Refuse options that make no sense, and a school outside the actor's scope."""
    problems = []
    if request.format != "auto" and request.format not in FORMATS:
        problems.append(f"Choose a format: auto or one of {', '.join(FORMATS)}.")
    if request.mode not in MODES:
        problems.append(f"Choose a mode: {', '.join(MODES)}.")
    fields = set(_TEMPLATE_FIELDS.findall(request.username_template))
    if (
        not fields
        or not fields <= {"first", "last", "f", "l"}
        or len(request.username_template) > 60
    ):
        problems.append("The username template may use only {first}, {last}, {f} and {l}.")
    if request.date_order is not None and request.date_order not in DATE_ORDERS:
        problems.append("Choose a date order: day/month (DMY) or month/day (MDY).")
    if request.passwords not in PASSWORD_CHOICES:
        problems.append("Choose whether to keep passwords or set them from the file.")
    if not request.has_header and request.format not in ("auto", CSV_FORMAT):
        problems.append(
            "Only spreadsheets may come without a header row; choose the spreadsheet format "
            "or let Keyslip detect it."
        )
    if request.send not in SEND_CHOICES:
        problems.append(f"Choose how to send credentials: {', '.join(SEND_CHOICES)}.")
    elif request.passwords == "set" and request.send == "sms":
        problems.append(
            "Passwords are never sent by SMS. To set passwords, send by email or print; "
            "to text new accounts, keep passwords and they get a set-password link."
        )
    if request.create_schools and not actor.district_wide:
        problems.append("Only a district-wide admin can create schools.")
    if problems:
        raise PolicyError(problems)
    if request.school_id is not None and request.school_id not in scope.visible_school_ids(actor):
        raise NotAllowed(
            "import into a school outside the admin's scope", "school", request.school_id
        )


def start_import(
    name: str, data: bytes, request: ImportRequest, *, actor: User, origin: str = "web"
) -> ImportRun:
    """Keep an upload encrypted and record it as a pending run to preview; caller commits."""
    check_request(request, actor=actor)
    files = check_upload(name, data)
    fmt = request.format
    if not request.has_header:
        fmt = CSV_FORMAT
    elif fmt == "auto":
        fmt = detect_format(files)
    key = uploads.store_upload(display_name(name), data)
    run = ImportRun(
        school_id=request.school_id,
        requested_by_id=actor.id,
        source=request.source or default_source(fmt, request.school_id),
        format=fmt,
        mode=request.mode,
        dry_run=True,
        status=PENDING,
        counts={"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)},
        row_errors=[],
        options={
            "origin": origin,
            "file_name": display_name(name),
            "complete": request.complete,
            "username_template": request.username_template,
            "date_order": request.date_order or _remembered(request.school_id, DATE_ORDER_SETTING),
            "passwords": request.passwords,
            "send": request.send,
            "skip_errors": request.skip_errors,
            "create_schools": request.create_schools,
            **({} if request.has_header else {"has_header": False}),
        },
        upload_key=key,
    )
    db.session.add(run)
    db.session.flush()
    if request.date_order:
        _remember(run, DATE_ORDER_SETTING, request.date_order, actor=actor)
    audit.record(actor, "import_uploaded", run, format=fmt, origin=origin)
    if request.create_schools:
        audit.record(actor, "import_create_schools_chosen", run, create_schools=True)
    return run


def check_upload(name: str, data: bytes) -> dict[str, bytes]:
    """Return the upload's CSV files, or refuse one that is no roster before it is kept."""
    files, problems = unpack_upload(name, data)
    refused = [f"{p.file}: {p.message}" for p in problems if p.severity == "error"]
    if refused or not files:
        raise PolicyError(refused or [f"{display_name(name)}: The upload holds no CSV file."])
    return files


def _remembered(school_id: int | None, key: str) -> Any:
    """Return what an earlier import of this school (None: district) chose for key."""
    return db.session.scalar(
        select(Setting.value).where(
            Setting.school_id.is_(None) if school_id is None else Setting.school_id == school_id,
            Setting.key == key,
        )
    )


def _remember(run: ImportRun, key: str, value: Any, *, actor: User) -> None:
    """Keep a choice made for this run as the default for the run's school's next imports."""
    setting = db.session.scalar(
        select(Setting).where(
            Setting.school_id.is_(None)
            if run.school_id is None
            else Setting.school_id == run.school_id,
            Setting.key == key,
        )
    )
    if setting is None:
        db.session.add(Setting(school_id=run.school_id, key=key, value=value))
    elif setting.value != value:
        setting.value = value
    else:
        return
    audit.record(actor, "setting_changed", run, key=key, school_id=run.school_id)


def needs_mapping(run: ImportRun) -> bool:
    """Tell whether a spreadsheet upload still needs its columns chosen."""
    return run.format == CSV_FORMAT and "mapping" not in (run.options or {})


def _has_header(run: ImportRun) -> bool:
    return (run.options or {}).get("has_header", True) is not False


def _people_columns(run: ImportRun) -> tuple[list[str], list[list[str]]]:
    """Return the people file's column names and first rows, decoded as the import reads them."""
    name, data = uploads.load_upload(run.upload_key)
    files, _ = unpack_upload(name, data)
    peeked = peek_files(files, _has_header(run), samples=SAMPLE_ROWS)
    # The people file is the one whose headers look most like names and emails.
    best: tuple[list[str], list[list[str]]] = ([], [])
    best_score = -1
    for headers, rows in peeked.values():
        guessed = guess_mapping(headers)
        score = sum(f in guessed for f in ("given_name", "family_name", "name", "email"))
        if score > best_score:
            best, best_score = (headers, rows), score
    return best


# Rows shown under each column on the mapping page, so a file without headers can be mapped.
SAMPLE_ROWS = 3


@dataclass
class MappingChoice:
    """The columns to offer on the mapping page, and what to tell the admin about them.

    remembered: the mapping is the one saved from the school's last upload (previous: the
    school has one, offered or not). changed: that upload had other columns (new_columns
    it lacked, gone_columns it had), so the admin must confirm the mapping before use.
    unmapped: columns the mapping leaves out that look like they matter, as (column, field
    it resembles).
    """

    headers: list[str]
    mapping: dict[str, str]
    remembered: bool
    samples: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    has_header: bool = True
    new_columns: list[str] = dataclasses.field(default_factory=list)
    gone_columns: list[str] = dataclasses.field(default_factory=list)
    # A mapping remembered before Keyslip kept the headers with it: nobody can tell what is new.
    unknown_before: bool = False
    # The school has a remembered mapping, offered or (when it names missing columns) not.
    previous: bool = False

    @property
    def header_looks_like_data(self) -> bool:
        """Tell whether the row read as column names looks like a person instead."""
        return self.has_header and any(looks_like_data(h) for h in self.headers)

    @property
    def changed(self) -> bool:
        """Tell whether the remembered mapping was made for a file with other columns."""
        return self.previous and bool(self.new_columns or self.gone_columns or self.unknown_before)

    @property
    def unmapped(self) -> list[tuple[str, str]]:
        """Return columns left unmapped that look meaningful, with the field they resemble."""
        return unmapped_meaningful(self.headers, self.mapping)

    def differences(self) -> str:
        """Say how this file's columns differ from the ones the remembered mapping was for."""
        parts = []
        if self.new_columns:
            parts.append(
                f"this file has columns the last one did not: {', '.join(self.new_columns)}"
            )
        if self.gone_columns:
            parts.append(
                f"the last one had columns this file lacks: {', '.join(self.gone_columns)}"
            )
        if self.unknown_before:
            parts.append("the columns of the last file were not recorded")
        return "; ".join(parts)


def _remembered_mapping(run: ImportRun) -> tuple[dict[str, str], list[str] | None] | None:
    """Return the school's remembered (mapping, headers it was made for), if any.

    Mappings remembered before headers were stored come back with headers None.
    """
    saved = _remembered(run.school_id, MAPPING_SETTING)
    if not isinstance(saved, dict) or not saved:
        return None
    if isinstance(saved.get("mapping"), dict):
        return dict(saved["mapping"]), list(saved.get("headers") or []) or None
    return dict(saved), None


def mapping_choice(run: ImportRun) -> MappingChoice:
    """Return the upload's headers and the mapping to offer: remembered, else guessed."""
    columns, rows = _people_columns(run)
    headers = [h for h in columns if h]
    samples = {
        h: [row[i] for row in rows if i < len(row) and row[i]] for i, h in enumerate(columns) if h
    }
    choice = MappingChoice(headers, {}, False, samples=samples, has_header=_has_header(run))
    current = (run.options or {}).get("mapping")
    remembered = _remembered_mapping(run) if not current else None
    if current:
        choice.mapping = dict(current)
    elif remembered:
        mapping, old = remembered
        choice.previous = True
        if old is None:
            choice.unknown_before = True
            old = [*headers, *(v for v in mapping.values() if v not in ROLE_CONSTANTS)]
        choice.new_columns = [h for h in headers if h not in old]
        choice.gone_columns = [h for h in dict.fromkeys(old) if h not in headers]
        if all(v in headers or v in ROLE_CONSTANTS for v in mapping.values()):
            choice.mapping, choice.remembered = mapping, True
        else:
            choice.mapping = guess_mapping(headers)
    else:
        choice.mapping = guess_mapping(headers)
    return choice


def automatic_mapping(run: ImportRun) -> MappingChoice:
    """Give a run nobody can ask (the CLI without --mapping, sync) its mapping; caller commits.

    The remembered mapping is used only for a file with exactly the columns it was made
    for; otherwise PolicyError says which columns changed. With nothing remembered, the
    guess from the headers is used.
    """
    choice = mapping_choice(run)
    if choice.changed:
        raise PolicyError(
            [
                f"The column mapping remembered from the last upload does not fit this file: "
                f"{choice.differences()}. Choose the columns on the import page, or give them "
                "with --mapping or --mapping-file, so no column is ignored by mistake."
            ]
        )
    run.options = {**run.options, "mapping": choice.mapping}
    return choice


def _column(value: str, headers: Sequence[str], has_header: bool) -> str | None:
    """Return the file's column a mapping value names: as spelt, folded, or by position."""
    if value in headers:
        return value
    folded = [h for h in headers if norm_header(h) == norm_header(value)]
    if len(folded) == 1:
        return folded[0]
    if not has_header and value.strip().isdigit() and 1 <= int(value) <= len(headers):
        return headers[int(value) - 1]
    return None


def save_mapping(
    run: ImportRun, mapping: Mapping[str, str], *, actor: User, confirmed: bool = False
) -> None:
    """Store the chosen columns on the run and remember them for the school; caller commits.

    confirmed says the admin checked the columns; it is needed when the remembered mapping
    was made for a file with other columns.
    """
    _require_pending(run)
    choice = mapping_choice(run)
    headers = choice.headers
    chosen: dict[str, str] = {}
    problems = []
    for field, header in mapping.items():
        if not header:
            continue
        # An explicit allow-list: unknown fields and made-up columns are refused, not stored.
        # The password column is read only by an import told to set passwords.
        if field not in SHEET_FIELDS:
            problems.append(
                f"{field!r} is not a Keyslip field. The fields are: {', '.join(SHEET_FIELDS)}."
            )
            continue
        if field == "role" and header in ROLE_CONSTANTS:
            chosen[field] = header
            continue
        column = _column(header, headers, choice.has_header)
        if column is None:
            problems.append(
                f"The file has no column {header!r} (for {field}). Its columns are: "
                f"{', '.join(headers)}."
            )
        else:
            chosen[field] = column
    if "name" not in chosen and not {"given_name", "family_name"} <= set(chosen):
        problems.append("Choose the first name and last name columns (or one full-name column).")
    if not {"sourced_id", "username", "email", "student_number"} & set(chosen):
        problems.append("Choose a column that identifies each person: an ID, username or email.")
    if choice.changed and not confirmed:
        problems.append(
            f"The columns remembered from the last upload were offered, but {choice.differences()}."
            " Check each column and tick the box to confirm."
        )
    if problems:
        raise PolicyError(problems)
    run.options = {**run.options, "mapping": chosen}
    _remember(run, MAPPING_SETTING, {"mapping": chosen, "headers": headers}, actor=actor)
    db.session.flush()


def choose_header(run: ImportRun, has_header: bool, *, actor: User) -> None:
    """Say whether the run's spreadsheet starts with a header row; the caller commits.

    The columns change with the answer, so any mapping chosen for the run is dropped.
    """
    _require_pending(run)
    if run.format != CSV_FORMAT:
        raise PolicyError(["Only spreadsheets may come without a header row."])
    options = {k: v for k, v in run.options.items() if k not in ("mapping", "has_header")}
    run.options = options if has_header else {**options, "has_header": False}
    audit.record(actor, "import_header_chosen", run, has_header=has_header)
    db.session.flush()


def choose_date_order(run: ImportRun, order: str, *, actor: User) -> None:
    """Answer the day/month question for the run's dates; the caller commits."""
    _require_pending(run)
    if order not in DATE_ORDERS:
        raise PolicyError(["Choose day/month or month/day."])
    run.options = {**run.options, "date_order": order}
    audit.record(actor, "import_date_order_chosen", run, date_order=order)
    _remember(run, DATE_ORDER_SETTING, order, actor=actor)
    db.session.flush()


DATE_ORDER_LABELS = {"DMY": "Day first (day/month/year)", "MDY": "Month first (month/day/year)"}
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def choose_create_schools(run: ImportRun, create: bool, *, actor: User) -> None:
    """Say whether the run creates the schools its file names that Keyslip lacks; caller commits.

    The next preview plans again with the choice (it is one of the run's options).
    """
    _require_pending(run)
    if create and not actor.district_wide:
        raise PolicyError(["Only a district-wide admin can create schools."])
    if bool(run.options.get("create_schools")) == create:
        return
    run.options = {**run.options, "create_schools": create}
    audit.record(actor, "import_create_schools_chosen", run, create_schools=create)
    db.session.flush()


def date_readings(question: DateQuestion) -> list[tuple[str, str, str]]:
    """Return (order, label, the example read that way) for each possible answer."""
    readings = []
    for order in DATE_ORDERS:
        when = parse_date(question.example, order)
        shown = f"{when.day} {_MONTHS[when.month - 1]} {when.year}" if when else question.example
        readings.append((order, DATE_ORDER_LABELS[order], shown))
    return readings


def _require_pending(run: ImportRun) -> None:
    if run.status not in (PENDING, NEEDS_CONFIRMATION) or not run.dry_run:
        raise PolicyError(["This import has already been applied or has finished."])


def build_plan(
    run: ImportRun,
    *,
    actor: User,
    confirm: bool = False,
    skip_errors: bool | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> ImportPlan:
    """Re-read the stored upload and plan it against the database. Changes nothing.

    on_stage, when given, hears "reading" and then "checking" as each step starts;
    skip_errors, when not given, is what the run was asked to do.
    """
    options = run.options or {}
    if on_stage:
        on_stage(READING)
    name, data = uploads.load_upload(run.upload_key)
    roster = read_upload(
        name,
        data,
        format=run.format,
        mapping=options.get("mapping"),
        default_region=current_app.config["ROSTER_DEFAULT_REGION"],
        complete=options.get("complete"),
        date_order=options.get("date_order"),
        has_header=_has_header(run),
        other_contacts=settings.get("import_other_contacts", run.school_id),
    )
    if on_stage:
        on_stage(CHECKING)
    mapping = options.get("mapping") or {}
    return plan_import(
        roster,
        ImportOptions(
            source=run.source,
            mode=run.mode,  # type: ignore[arg-type]
            school_id=run.school_id,
            username_template=options.get("username_template") or "{first}.{last}",
            deactivation_threshold=current_app.config["ROSTER_DEACTIVATION_THRESHOLD"],
            confirm_deactivation=confirm,
            passwords=options.get("passwords") or "keep",  # type: ignore[arg-type]
            password_column=mapping.get("password") or "password",
            password_mapped="password" in mapping,
            skip_errors=bool(options.get("skip_errors")) if skip_errors is None else skip_errors,
            create_schools=bool(options.get("create_schools")),
        ),
        actor=actor,
    )


def request_apply(
    run: ImportRun, *, actor: User, confirm: bool, skip_errors: bool = False
) -> ImportPlan:
    """Check the plan once more and queue the apply job; the caller commits.

    skip_errors applies everything but the rows in error and what depends on them.
    """
    _require_pending(run)
    if needs_mapping(run):
        raise PolicyError(["Choose the columns first."])
    plan = build_plan(run, actor=actor, confirm=confirm, skip_errors=skip_errors)
    if plan.blocking_errors:
        raise PolicyError(
            ["The file has errors that concern the whole file; fix them and upload it again."]
        )
    if not plan.errors_allow_apply:
        raise PolicyError(
            [
                "The file has errors: fix them and upload it again, or tick "
                "“Apply the rest” to leave the rows in error out."
            ]
        )
    if plan.needs_confirmation and not confirm:
        raise PolicyError(["Tick the box to confirm the removals, or upload a complete file."])
    run.dry_run = False
    run.status = PENDING
    run.requested_by_id = actor.id
    run.options = {**run.options, "confirm_deactivation": confirm, "skip_errors": skip_errors}
    run.counts = {**run.counts, **plan.counts()}
    audit.record(
        actor, "import_requested", run, confirm_deactivation=confirm, skip_errors=skip_errors
    )
    db.session.flush()
    enqueue(apply_import, run.id)
    return plan


@job
def apply_import(run_id: int) -> str:
    """Plan the stored upload again and apply it; record how it ended on the run."""
    claimed = db.session.execute(
        update(ImportRun)
        .where(ImportRun.id == run_id, ImportRun.status == PENDING, ImportRun.dry_run.is_(False))
        .values(status=RUNNING, started_at=utcnow())
    ).rowcount
    db.session.commit()
    if not claimed:
        return "not pending"  # applied already, or picked up by another worker
    run = db.session.get(ImportRun, run_id)
    if unchanged_since_last_apply(run):
        skip_run(run)
        db.session.commit()
        return SKIPPED
    try:
        status = _apply_run(run)
    except Exception as exc:
        db.session.rollback()
        log.exception("import run %s failed", run_id)
        run = db.session.get(ImportRun, run_id)
        run.status = FAILED
        run.stage = None
        run.finished_at = utcnow()
        run.row_errors = [*run.row_errors, _note(f"The import stopped: {type(exc).__name__}.")]
        db.session.commit()
        return FAILED
    return status


def _note(message: str, severity: str = "error") -> dict[str, Any]:
    return {
        "severity": severity,
        "file": "upload",
        "line": None,
        "column": None,
        "message": message,
    }


def _apply_run(run: ImportRun) -> str:
    """Apply one claimed run and commit; returns the status it ended with."""
    actor = db.session.get(User, run.requested_by_id) if run.requested_by_id else None
    if actor is None or actor.role != Role.ADMIN or actor.deactivated_at is not None:
        return _finish(run, FAILED, [_note("The admin who asked for this import is gone.")])

    def stage(name: str) -> None:
        # Committed at once so the page can show it; each step's own work is still all or
        # nothing (nothing is written before the last step, which commits in one go).
        run.stage = name
        db.session.commit()

    try:
        plan = build_plan(
            run,
            actor=actor,
            confirm=bool(run.options.get("confirm_deactivation")),
            on_stage=stage,
        )
    except uploads.UploadMissing:
        return _finish(run, FAILED, [_note("The uploaded file has expired; upload it again.")])
    except NotAllowed:
        return _finish(run, FAILED, [_note("The file names a school outside your schools.")])
    run.counts = {**run.counts, **plan.counts()}
    if not plan.errors_allow_apply:
        return _finish(run, FAILED, [p.as_dict() for p in plan.problems])
    if plan.needs_confirmation and not plan.options.confirm_deactivation:
        run.dry_run = True
        return _finish(run, NEEDS_CONFIRMATION, [p.as_dict() for p in plan.problems], keep=True)
    stage(WRITING)
    finish_apply(run, plan, actor=actor)
    run.stage = None
    db.session.commit()
    return APPLIED


def finish_apply(run: ImportRun, plan: ImportPlan, *, actor: User) -> None:
    """Apply a plan onto its run, drop the upload and queue the new-accounts hook."""
    apply_plan(plan, actor=actor, run=run)
    next_leave = plan.roster.next_leave_date
    run.counts = {
        **run.counts,
        "db": db_fingerprint(run.source),
        "next_leave_date": next_leave.isoformat() if next_leave else None,
    }
    _drop_files(run)
    options = run.options or {}
    if options.get("send", "none") != "none" and options.get("passwords", "keep") == "keep":
        # Updated people are sent a fresh link too (a changed address has killed the old
        # one); delivery leaves out anyone already using their account.
        updated = sorted({c.user_id for c in plan.updated + plan.reactivate if c.user_id})
        if updated:
            run.options = {**options, "updated_ids": updated}
    if plan.created_user_ids or (run.options or {}).get("updated_ids"):
        enqueue(notify_created_accounts, run.id)


def _drop_files(run: ImportRun) -> None:
    """Delete a finished run's encrypted upload and cached preview."""
    uploads.delete_upload(run.upload_key)
    run.upload_key = None
    cached = (run.options or {}).get("preview")
    if cached:
        uploads.delete_upload(cached["key"])
        run.options = {k: v for k, v in run.options.items() if k != "preview"}


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
    connection = db.session.connection()  # Core: plain rows, no ORM loading
    with paused_gc():
        for query in queries:
            rows = list(map(tuple, connection.execute(query).all()))
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
    if last is None or not last.counts.get("sha256") or "db" not in last.counts:
        return False
    next_leave = last.counts.get("next_leave_date")
    if next_leave and date.fromisoformat(next_leave) <= date.today():
        return False
    defaults = {"passwords": "keep", "send": "none", "create_schools": False}
    same_options = all(
        (last.options or {}).get(key, defaults.get(key))
        == (run.options or {}).get(key, defaults.get(key))
        for key in (
            "mapping",
            "complete",
            "date_order",
            "passwords",
            "send",
            "create_schools",
            "has_header",
        )
    )
    return (
        last.counts["sha256"] == run.counts.get("sha256")
        and last.mode == run.mode
        and last.format == run.format
        and same_options
        and last.counts["db"] == db_fingerprint(run.source)
    )


def refuse_run(run: ImportRun, problems: Sequence[str]) -> str:
    """End a run that cannot go on without an admin's answer, saying why; commits."""
    return _finish(run, FAILED, [_note(problem) for problem in problems])


def skip_run(run: ImportRun) -> None:
    """Record a run as skipped because nothing in it is new; caller commits."""
    _drop_files(run)
    run.dry_run = False
    run.status = SKIPPED
    run.finished_at = utcnow()


def _finish(
    run: ImportRun, status: str, problems: list[dict[str, Any]], *, keep: bool = False
) -> str:
    run.status = status
    run.stage = None
    run.row_errors = problems
    run.finished_at = utcnow()
    if not keep:
        _drop_files(run)
    if status in ALERT_STATUSES and run.options.get("origin", "").startswith("sync"):
        from webapp.services import roster_sync

        enqueue(roster_sync.email_run_alert, run.id)
    db.session.commit()
    return status


def remember_preview(run: ImportRun, plan: ImportPlan) -> None:
    """Keep the preview's counts and problems on the pending run; caller commits."""
    run.counts = {**run.counts, **plan.counts()}
    run.row_errors = [p.as_dict() for p in plan.problems]
    if plan.school_ids and run.school_id is None:
        ids = set(plan.school_ids.values())
        if len(ids) == 1:
            run.school_id = ids.pop()
    db.session.flush()


# Accounts an import created ------------------------------------------------------------------


def created_user_ids(run: ImportRun) -> list[int]:
    """Return the students and parents this run created (apply stamps them with its time)."""
    if run.finished_at is None:
        return []
    return list(
        db.session.scalars(
            select(User.id).where(
                User.source == run.source,
                User.created_at == run.finished_at,
                User.role.in_((Role.STUDENT.value, Role.PARENT.value)),
            )
        )
    )


def on_accounts_created(user_ids: Sequence[int], actor: User) -> None:
    """Hand accounts an import created to credential delivery; the caller commits.

    The one place the importer meets delivery: the school's notify settings decide whether
    new students and parents get credentials at once or stay "not sent".
    """
    from webapp.delivery.batches import notify_new_accounts

    if user_ids:
        notify_new_accounts(list(user_ids), actor)


def send_to_created_accounts(run: ImportRun, actor: User, channel: str) -> int:
    """Send the accounts this run created their credentials, as chosen at upload.

    One batch over the new accounts that got no password from the file (the admin holds
    those): a temporary password when the run sets passwords (blank = generate one), else a
    set-password link, which then also goes to the people the run updated who are not using
    their account yet. The key comes from the run, so a retried job makes one batch. The
    caller commits; returns how many people the batch covers.
    """
    from webapp.delivery.batches import send_credentials

    key = f"import-run:{run.id}"
    if db.session.scalar(select(CredentialBatch.id).where(CredentialBatch.idempotency_key == key)):
        return 0  # this job ran already
    ids = list(
        db.session.scalars(
            select(User.id)
            .where(
                User.source == run.source,
                User.created_at == run.finished_at,
                User.password_hash.is_(None),
                User.invited_at.is_(None),
                User.deactivated_at.is_(None),
            )
            .order_by(User.id)
        )
    )
    kind = "password" if (run.options or {}).get("passwords") == "set" else "link"
    if kind == "link":
        ids = sorted(set(ids) | set((run.options or {}).get("updated_ids", ())))
    if not ids:
        return 0
    batch = send_credentials(
        ids, kind, channel, {"idempotency_key": key, "school_id": run.school_id}, actor
    )
    return batch.total


@job
def notify_created_accounts(run_id: int) -> int:
    """Offer the accounts an applied run created to delivery, after the apply committed.

    With a send channel chosen at upload, they get one batch by it (and the school's notify
    settings are not applied as well: nobody gets two messages); without, the notify
    settings decide.
    """
    run = db.session.get(ImportRun, run_id)
    if run is None or run.status != APPLIED or run.requested_by_id is None:
        return 0
    actor = db.session.get(User, run.requested_by_id)
    channel = (run.options or {}).get("send") or "none"
    if channel != "none":
        if actor is None or actor.role != Role.ADMIN or actor.deactivated_at is not None:
            return 0
        sent = send_to_created_accounts(run, actor, channel)
        db.session.commit()
        return sent
    from webapp.delivery.batches import notifies_new_accounts

    if not notifies_new_accounts():
        return 0  # the default: nobody is told until an admin sends
    ids = created_user_ids(run)
    if actor is None or not ids:
        return 0
    on_accounts_created(ids, actor)
    db.session.commit()
    return len(ids)


# History and downloads ---------------------------------------------------------------------


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


# Files on disk (CLI and drop folders) -------------------------------------------------------


def bundle_files(paths: Sequence[Path], name: str) -> tuple[str, bytes]:
    """Zip CSV files in memory so they read like an uploaded bundle.

    The zip depends only on the files' names and contents (no timestamps), so the same
    export dropped again is byte-identical and the unchanged-file check can see it.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(paths, key=lambda p: p.name):
            entry = zipfile.ZipInfo(path.name, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, path.read_bytes())
    return f"{name or 'roster'}.zip", buffer.getvalue()


def bundle_folder(folder: Path) -> tuple[str, bytes]:
    """Zip a folder's CSV files in memory, so a folder reads like an uploaded bundle."""
    csvs = [
        path
        for path in folder.iterdir()
        if path.is_file() and path.suffix.casefold() == ".csv" and not path.name.startswith(".")
    ]
    return bundle_files(csvs, folder.name)


def read_path(path: Path) -> tuple[str, bytes]:
    """Return (name, bytes) for a .csv, a .zip or a folder of CSV files."""
    if path.is_dir():
        return bundle_folder(path)
    return path.name, path.read_bytes()


# The preview page ----------------------------------------------------------------------------

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
    """Return one page of one tab of the upload's plan; keeps the counts on the run.

    The problems tab lists errors first, at most SIMILAR_LIMIT of a kind, and may be
    filtered by severity and by file; the counts and the problems CSV keep every one.

    Planning a district file takes seconds, so the first preview keeps every tab, encrypted
    like the upload, and the next tab or page reads it back while nothing it depends on has
    moved: the admin, the run's options and every value the source controls (db_fingerprint).
    """
    tag = _preview_tag(run, actor)
    data = _cached_preview(run, tag)
    if data is None:
        plan = build_plan(run, actor=actor)
        remember_preview(run, plan)
        data = _preview_data(plan)
        _cache_preview(run, tag, data)
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
    options = {k: v for k, v in (run.options or {}).items() if k != "preview"}
    choices = json.dumps(
        [actor.id, run.mode, run.format, run.school_id, run.source, options],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(f"{choices}|{db_fingerprint(run.source)}".encode()).hexdigest()


def _cached_preview(run: ImportRun, tag: str) -> dict[str, Any] | None:
    cached = (run.options or {}).get("preview")
    if not cached or cached.get("tag") != tag:
        return None
    try:
        _, data = uploads.load_upload(cached["key"])
    except uploads.UploadMissing:
        return None
    return json.loads(data)


def _cache_preview(run: ImportRun, tag: str, data: dict[str, Any]) -> None:
    """Keep the preview encrypted beside the upload (names and addresses are personal)."""
    old = (run.options or {}).get("preview")
    key = uploads.store_upload("preview.json", json.dumps(data, default=str).encode())
    run.options = {**run.options, "preview": {"key": key, "tag": tag}}
    if old:
        uploads.delete_upload(old["key"])
    db.session.flush()
