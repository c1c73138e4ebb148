"""`flask roster ...`: import a roster from a file, run the drop-folder sync, purge uploads.

Exit codes of `flask roster import` (and `sync`): 0 done; 1 the file has errors or the
command could not run; 3 the import would remove more of a school's people, classes or
class places than the safety limit and --yes was not given.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup

from webapp.cli_admins import resolve_admin, resolve_school
from webapp.extensions import db
from webapp.imports import files, fingerprint, history, jobs, mapping, runs, sheets, states, sync
from webapp.imports.plan import MODES, PASSWORD_CHOICES, ImportPlan
from webapp.models import ImportRun, User
from webapp.roster import FORMATS, DateQuestion
from webapp.roster.bulk import paused_gc
from webapp.roster.detect import detect_format
from webapp.roster.problems import capped, errors_first
from webapp.roster.sheet_files import PEOPLE_ROLES, role_for_name
from webapp.roster.upload import unpack_upload
from webapp.services import uploads
from webapp.services.errors import NotAllowed, PolicyError

roster_cli = AppGroup("roster", help="Roster imports and scheduled sync.")
EXIT_ERRORS = 1
EXIT_NEEDS_CONFIRMATION = 3
# The terminal shows this many problems of a kind; --json and the problems CSV show all.
CLI_SIMILAR_LIMIT = 10
FORMAT_CHOICES = ("auto", "oneroster", "clever", "sds", "csv", *FORMATS)


def resolve_format(fmt: str, name: str, data: bytes) -> str:
    """Turn the short names (oneroster, sds) into a reader format, detecting the version."""
    if fmt not in ("oneroster", "sds"):
        return fmt
    files, _ = unpack_upload(name, data)
    detected = detect_format(files) if files else ""
    if fmt == "oneroster":
        return detected if detected.startswith("oneroster") else "oneroster-1.1"
    return detected if detected.startswith("sds") else "sds-2.1"


def parse_mapping(
    texts: tuple[str, ...] | str | None, path: Path | None
) -> tuple[dict[str, str] | None, dict[str, dict[str, str]]]:
    """Read --mapping (field=column,... or FILE:field=column,...) or --mapping-file.

    Return (the one-file mapping, if given; the mappings given per file).
    """
    if isinstance(texts, str):
        texts = (texts,)
    texts = tuple(texts or ())
    if texts and path is not None:
        raise click.UsageError("Give --mapping or --mapping-file, not both.")
    if path is not None:
        loaded = _mapping_file(path)
        if all(isinstance(v, dict) for v in loaded.values()):
            return None, {name: dict(columns) for name, columns in loaded.items()}
        return loaded, {}
    flat: dict[str, str] | None = None
    per_file: dict[str, dict[str, str]] = {}
    for text in texts:
        head, sep, rest = text.partition(":")
        if sep and "=" not in head:
            per_file[head.strip()] = _pairs(rest)
        elif flat is not None:
            raise click.BadParameter(
                "Give one --mapping without a file name, or one per file as FILE:field=column,...",
                param_hint="--mapping",
            )
        else:
            flat = _pairs(text)
    return flat, per_file


def _mapping_file(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.BadParameter(f"{path} is not readable JSON ({exc}).") from exc

    def columns(value: Any) -> bool:
        return isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        )

    if not columns(loaded) and not (
        isinstance(loaded, dict) and loaded and all(columns(v) for v in loaded.values())
    ):
        raise click.BadParameter(
            f'{path} must hold one JSON object of field -> column, e.g. {{"given_name": '
            '"Vorname", "family_name": "Nachname"}, or one such object per file: '
            '{"parents.csv": {"given_name": "Vorname", ...}, ...}.'
        )
    return loaded


def _pairs(text: str) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in text.split(","):
        field, sep, column = pair.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise click.BadParameter(
                f"{pair.strip()!r} is not field=column (for example given_name=Vorname). "
                "For a column whose name holds a comma, use --mapping-file.",
                param_hint="--mapping",
            )
        mapping[field.strip()] = column.strip()
    return mapping


def parse_file_roles(texts: tuple[str, ...]) -> dict[str, str]:
    """Read --file-role FILE=ROLE options."""
    roles: dict[str, str] = {}
    for text in texts:
        name, sep, role = text.rpartition("=")
        if not sep or not name.strip() or not role.strip():
            raise click.BadParameter(
                f"{text!r} is not FILE=ROLE (for example parents.csv=parents).",
                param_hint="--file-role",
            )
        roles[name.strip()] = role.strip()
    return roles


def choose_columns(
    run: ImportRun,
    given: dict[str, str] | None,
    actor: User,
    *,
    roles: dict[str, str] | None = None,
    per_file: dict[str, dict[str, str]] | None = None,
) -> list[dict[str, str]]:
    """Give a spreadsheet run its columns; return unmapped columns that look meaningful."""
    if roles or per_file or sheets.maps_per_file(run):
        if given is not None:
            raise PolicyError(
                [
                    "This upload holds several files: give each its columns with --mapping "
                    "FILE:field=column,... (and its role with --file-role FILE=ROLE)."
                ]
            )
        files = sheets.automatic_file_mappings(run, actor=actor, roles=roles, columns=per_file)
        return [
            {"column": column, "looks_like": field, "file": file.name}
            for file in files
            if file.role in PEOPLE_ROLES
            for column, field in file.columns.unmapped
        ]
    if given is not None:
        named = role_for_name(run.file_name or "")
        if "role" not in given and named:
            given = {**given, "role": named}  # the file's name says who is in it
        mapping.save_mapping(run, given, actor=actor, confirmed=True)
        choice = mapping.mapping_choice(run)
    else:
        choice = mapping.automatic_mapping(run)
    return [{"column": column, "looks_like": field} for column, field in choice.unmapped]


def summary(
    run_id: int,
    plan: ImportPlan,
    applied: bool,
    unmapped: list[dict[str, str]] | None = None,
    file_roles: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Return what the CLI reports, as plain data."""
    names = history.school_names(list(plan.removals))
    return {
        "run_id": run_id,
        "format": plan.roster.format,
        "source": plan.options.source,
        "applied": applied,
        "needs_confirmation": plan.needs_confirmation,
        "counts": plan.counts(),
        "new_schools": [name for _, name in plan.new_schools],
        "removals": [
            {
                "school_id": school_id,
                "school": names.get(school_id, str(school_id)),
                **dataclasses.asdict(removals),
                "over_limit": removals.over(plan.options.deactivation_threshold),
            }
            for school_id, removals in sorted(plan.removals.items())
        ],
        "date_questions": [
            {
                "file": q.file,
                "line": q.line,
                "column": q.column,
                "example": q.example,
                "order": q.order,
            }
            for q in plan.roster.date_questions
        ],
        "problems": errors_first(p.as_dict() for p in plan.problems),
        "unmapped_columns": unmapped or [],
        "file_roles": file_roles or {},
    }


def echo_summary(report: dict[str, Any]) -> None:
    counts = report["counts"]
    click.echo(
        f"{report['format']} import (source {report['source']}): {counts['new']} new, "
        f"{counts['updated']} changed, {counts['unchanged']} unchanged, "
        f"{counts['deactivate']} leaving, {counts['reactivate']} back; "
        f"{counts['classes']} new classes, {counts['classes_removed']} removed; "
        f"{counts['enrollments']} new class places, {counts['enrollments_removed']} removed; "
        f"{counts['guardian_links']} parent links, {counts['guardian_links_removed']} removed; "
        f"{counts['errors']} errors, {counts['warnings']} warnings."
    )
    new, reset = counts.get("file_credentials_new", 0), counts.get("file_credentials_reset", 0)
    generate = counts.get("credentials_to_generate", 0)
    left_alone = counts.get("file_credentials_left_alone", 0)
    if new or reset or generate or left_alone:
        click.echo(
            f"Passwords: {new} new and {reset} reset from the file; "
            f"{generate} to generate when sent; {left_alone} left alone "
            "(already in use, or tied to a school outside yours)."
        )
    if report.get("file_roles"):
        roles = ", ".join(f"{name} ({role})" for name, role in report["file_roles"].items())
        click.echo(f"Files: {roles}.")
    for column in report["unmapped_columns"]:
        where = f"{column['file']}: " if column.get("file") else ""
        click.echo(
            f"  {where}Column '{column['column']}' is not imported but looks like "
            f"{column['looks_like'].replace('_', ' ')}; give it with --mapping if it matters."
        )
    if report["new_schools"]:
        click.echo(f"New schools: {', '.join(report['new_schools'])}.")
    for school in report["removals"]:
        click.echo(removal_line(school))
    held = counts.get("held_back_rows", 0)
    if held:
        click.echo(
            f"Held back: {held} rows in error and {counts.get('held_back_dependents', 0)} rows "
            "that refer to them (class places, parent links)."
        )
    shown = capped(report["problems"], limit=CLI_SIMILAR_LIMIT)
    for problem in shown[:50]:
        where = problem["file"]
        if problem["line"] is not None:
            where += f", line {problem['line']}"
        if problem["column"]:
            where += f", column {problem['column']}"
        click.echo(f"  {problem['severity']}: {where}: {problem['message']}")
    if len(shown) > 50 or len(shown) < len(report["problems"]):
        click.echo(
            f"  {len(report['problems'])} problems in all: --json lists every one, and so "
            "does the run's problems CSV in the console."
        )


def removal_line(school: dict[str, Any]) -> str:
    """Say what one covered school would lose, every kind, and which cross the limit."""
    line = (
        f"  {school['school']}: {school['people']} of {school['people_total']} people leaving, "
        f"{school['memberships']} leaving this school only, "
        f"{school['classes']} of {school['classes_total']} classes removed, "
        f"{school['enrollments']} of {school['enrollments_total']} class places removed"
    )
    if school["over_limit"]:
        line += f" (over the safety limit: {', '.join(school['over_limit'])})"
    return line


def date_order_hint(question: DateQuestion) -> str:
    """Say how to answer a day/month question from the command line."""
    ways = " or ".join(
        f"--date-order {order.lower()} ({question.example} = {shown})"
        for order, _, shown in mapping.date_readings(question)
    )
    return f"Dates in column '{question.column}' could be read either way: run again with {ways}."


@roster_cli.command("import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMAT_CHOICES), default="auto")
@click.option("--mode", type=click.Choice(MODES), default="add-update")
@click.option(
    "--complete/--delta",
    default=None,
    help="The whole roster of its schools (what it lacks there is removed), or only changes.",
)
@click.option(
    "--school", "school_ref", help="School id, SIS id or exact name, for files that name none."
)
@click.option("--as", "as_user", help="Admin username to act as.")
@click.option("--source", help="Id namespace (default: ROSTER_SOURCE, or csv:<school>).")
@click.option("--username-template", default="{first}.{last}", show_default=True)
@click.option(
    "--date-order",
    type=click.Choice(("dmy", "mdy"), case_sensitive=False),
    help="How to read dates that fit both orders, such as 03/04/2025: day or month first.",
)
@click.option(
    "--passwords",
    type=click.Choice(PASSWORD_CHOICES),
    default="keep",
    show_default=True,
    help="keep: never touch passwords; set: the file's password column sets temporary "
    "passwords (blank = generate one when sent).",
)
@click.option(
    "--send",
    type=click.Choice(runs.SEND_CHOICES),
    default="none",
    show_default=True,
    help="After applying, send new accounts their credentials by this channel "
    "(people given a password from the file are sent nothing).",
)
@click.option(
    "--skip-errors",
    is_flag=True,
    help="Apply everything but the rows in error and what depends on them (held back, "
    "listed in the summary). Errors that concern a whole file still stop the import.",
)
@click.option(
    "--create-schools",
    is_flag=True,
    help="Spreadsheets: create the schools the school column names that Keyslip does not "
    "have (district-wide admins only). Without it, an unknown school is an error.",
)
@click.option(
    "--no-header",
    is_flag=True,
    help="The spreadsheet's first row is data: columns are named Column 1, Column 2, ...",
)
@click.option(
    "--file-role",
    "file_roles",
    multiple=True,
    metavar="FILE=ROLE",
    help="Spreadsheets: what a file holds, e.g. parents.csv=parents (students, parents, "
    "staff, teachers, people, classes, memberships, links, ignore). Repeatable.",
)
@click.option(
    "--mapping",
    "mapping_text",
    multiple=True,
    metavar="[FILE:]FIELD=COLUMN,...",
    help="Spreadsheet columns, e.g. given_name=Vorname,family_name=Nachname,role==student "
    "(with --no-header, a column may be given by number: given_name=2). For an upload of "
    "several files, one per file: parents.csv:given_name=Vorname,linked_student=Kind.",
)
@click.option(
    "--mapping-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A JSON object of field -> column, as --mapping (or one per file name).",
)
@click.option("--dry-run", is_flag=True, help="Preview only; the run can be applied later.")
@click.option("--yes", is_flag=True, help="Confirm removals above the safety limit.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
# Reading, planning, applying and the digest each pause the collector already; between them
# it would wake and walk every record the last step made, and again as they age (a third of
# a second at 50,000 people). One pause over the whole command leaves it nothing to walk.
@paused_gc()
def roster_import(
    path: Path,
    fmt: str,
    mode: str,
    complete: bool | None,
    school_ref: str | None,
    as_user: str | None,
    source: str | None,
    username_template: str,
    date_order: str | None,
    passwords: str,
    send: str,
    skip_errors: bool,
    create_schools: bool,
    no_header: bool,
    file_roles: tuple[str, ...],
    mapping_text: tuple[str, ...],
    mapping_file: Path | None,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Import a roster from a .csv, a .zip or a folder of CSV files."""
    given, per_file = parse_mapping(mapping_text, mapping_file)
    roles = parse_file_roles(file_roles)
    actor = resolve_admin(as_user)
    school_id = resolve_school(school_ref, actor).id if school_ref else None
    name, data = files.read_path(path)
    request = runs.ImportRequest(
        format=resolve_format(fmt, name, data),
        mode=mode,
        complete=complete,
        school_id=school_id,
        username_template=username_template,
        source=source,
        date_order=date_order.upper() if date_order else None,
        passwords=passwords,
        send=send,
        skip_errors=skip_errors,
        create_schools=create_schools,
        has_header=not no_header,
    )
    unmapped: list[dict[str, str]] = []
    try:
        run = runs.start_import(name, data, request, actor=actor, origin="cli")
        if mapping.needs_mapping(run):
            unmapped = choose_columns(run, given, actor, roles=roles, per_file=per_file)
        elif given is not None or roles or per_file:
            raise PolicyError(
                [f"--mapping is for spreadsheets; this upload is {run.format}, mapped by name."]
            )
        if not dry_run and fingerprint.unchanged_since_last_apply(run):
            jobs.skip_run(run)
            db.session.commit()
            click.echo(f"Unchanged since the last import; skipped (import run {run.id}).")
            return
        plan = runs.build_plan(run, actor=actor, confirm=yes)
    except (PolicyError, NotAllowed) as exc:
        db.session.rollback()
        message = "\n".join(exc.problems) if isinstance(exc, PolicyError) else "Not your school."
        raise click.ClickException(message) from exc
    runs.remember_preview(run, plan)
    applied = False
    code = 0
    if not plan.errors_allow_apply:
        code = EXIT_ERRORS
    elif plan.needs_confirmation and not yes:
        run.needs_confirmation(run.row_errors, stopped=False)
        code = EXIT_NEEDS_CONFIRMATION
    elif not dry_run:
        run.confirm_deactivation = yes
        run.start()
        jobs.finish_apply(run, plan, actor=actor)
        applied = True
    db.session.commit()
    chosen = sheets.per_file(mapping.chosen_mapping(run)) or {}
    roles_used = {name: spec.get("role", "") for name, spec in chosen.items()}
    report = summary(run.id, plan, applied, unmapped, roles_used)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        echo_summary(report)
        if code == EXIT_NEEDS_CONFIRMATION:
            click.echo("Nothing applied: confirm the removals with --yes.")
        elif code == EXIT_ERRORS:
            for question in plan.roster.date_questions:
                if question.order is None:
                    click.echo(date_order_hint(question))
            if plan.unknown_schools and actor.district_wide and not create_schools:
                click.echo(
                    "To create the schools the file names that Keyslip does not have, "
                    "run again with --create-schools (or see `flask schools --help`)."
                )
            click.echo(
                "Nothing applied: fix the errors and run again"
                + (
                    ", or add --skip-errors to apply the rest."
                    if not plan.blocking_errors and not skip_errors
                    else "."
                )
            )
        elif applied:
            held = " (the rows in error were held back)" if plan.errors else ""
            click.echo(f"Applied{held} (import run {run.id}).")
            if send != "none":
                click.echo(
                    f"New accounts are sent their credentials by {send}; people given a "
                    "password from the file are sent nothing."
                )
        else:
            click.echo(f"Dry run only (import run {run.id}); nothing changed.")
    del plan  # the roster goes while the collector still sleeps (see @paused_gc above)
    raise SystemExit(code)


@roster_cli.command("sync")
def roster_sync_command() -> None:
    """Import what the SIS dropped in the drop folders (for cron)."""
    outcomes = sync.sync_drop_folders()
    for outcome in outcomes:
        click.echo(
            f"{outcome.folder}: {', '.join(outcome.files)} -> {outcome.status}"
            + (f" (import run {outcome.run_id})" if outcome.run_id else "")
        )
    if not outcomes:
        click.echo("Nothing to import.")
    statuses = {o.status for o in outcomes}
    if statuses & {states.FAILED, "error", "no admin"}:
        raise SystemExit(EXIT_ERRORS)
    if states.NEEDS_CONFIRMATION in statuses:
        raise SystemExit(EXIT_NEEDS_CONFIRMATION)


@roster_cli.command("purge-uploads")
@click.option("--hours", type=float, default=None, help="Default: ROSTER_UPLOAD_RETENTION_HOURS.")
def roster_purge_uploads(hours: float | None) -> None:
    """Delete stored roster uploads older than the retention period."""
    click.echo(f"Deleted {uploads.purge_uploads(hours)} stored uploads.")
