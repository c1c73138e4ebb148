"""Start an import: check the request and the upload, keep it encrypted, plan it.

An upload becomes an ImportRun holding its options and the key of the encrypted file. The
preview re-reads that file and plans against the database (changing nothing); applying
queues a job (imports.jobs) that plans again from the same file and writes it all at once.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app

from webapp.extensions import db
from webapp.imports import sheets
from webapp.imports.mapping import (
    DATE_ORDER_SETTING,
    chosen_mapping,
    has_header,
    remember,
    remembered,
    set_has_header,
)
from webapp.imports.plan import MODES, PASSWORD_CHOICES, ImportOptions, ImportPlan
from webapp.imports.planner import plan_import
from webapp.imports.states import CHECKING, CSV_FORMAT, PENDING, READING
from webapp.models import (
    ImportCounts,
    ImportRun,
    User,
)
from webapp.models.imports import IMPORT_SENDS
from webapp.roster import DATE_ORDERS, FORMATS, read_upload
from webapp.roster.detect import detect_format
from webapp.roster.upload import display_name, unpack_upload
from webapp.services import audit, scope, settings, uploads
from webapp.services.errors import NotAllowed, PolicyError

log = logging.getLogger(__name__)


_TEMPLATE_FIELDS = re.compile(r"\{([^{}]*)\}")


# How the accounts an import creates get their credentials once it is applied: "none" leaves
# them "not sent" (unless the school's notify settings send them), else a batch by channel.
SEND_CHOICES = IMPORT_SENDS


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
        row_errors=[],
        options={},
        origin=origin,
        file_name=display_name(name),
        complete=request.complete,
        username_template=request.username_template,
        date_order=request.date_order or remembered(request.school_id, DATE_ORDER_SETTING),
        passwords=request.passwords,
        send=request.send,
        skip_errors=request.skip_errors,
        create_schools=request.create_schools,
        upload_sha256=hashlib.sha256(data).hexdigest(),
        upload_bytes=len(data),
        upload_key=key,
    )
    set_has_header(run, request.has_header)
    db.session.add(run)
    db.session.flush()
    if request.date_order:
        remember(run, DATE_ORDER_SETTING, request.date_order, actor=actor)
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
    if on_stage:
        on_stage(READING)
    name, data = uploads.load_upload(run.upload_key)
    mapping = chosen_mapping(run)
    roster = read_upload(
        name,
        data,
        format=run.format,
        mapping=mapping,
        default_region=current_app.config["ROSTER_DEFAULT_REGION"],
        complete=run.complete,
        date_order=run.date_order,
        has_header=has_header(run),
        other_contacts=settings.get("import_other_contacts", run.school_id),
    )
    if on_stage:
        on_stage(CHECKING)
    mapping = mapping or {}
    password_column = sheets.password_column(mapping)
    return plan_import(
        roster,
        ImportOptions(
            source=run.source,
            mode=run.mode,  # type: ignore[arg-type]
            school_id=run.school_id,
            username_template=run.username_template,
            deactivation_threshold=current_app.config["ROSTER_DEACTIVATION_THRESHOLD"],
            confirm_deactivation=confirm,
            passwords=run.passwords,  # type: ignore[arg-type]
            password_column=password_column or "password",
            password_mapped=password_column is not None,
            skip_errors=run.skip_errors if skip_errors is None else skip_errors,
            create_schools=run.create_schools,
        ),
        actor=actor,
    )


def remember_preview(run: ImportRun, plan: ImportPlan) -> None:
    """Keep the preview's counts and problems on the pending run; caller commits."""
    run.previewed(ImportCounts.from_dict(plan.counts()), [p.as_dict() for p in plan.problems])
    if plan.school_ids and run.school_id is None:
        ids = set(plan.school_ids.values())
        if len(ids) == 1:
            run.school_id = ids.pop()
    db.session.flush()
