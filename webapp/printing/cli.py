"""`flask credentials print`, `print-letters` and `report`: PDFs written to a path.

Both act as a named admin (`--as`), within that admin's schools, like every credentials
command. The PDF is written owner-only and never over an existing file; the database
changes are committed only once the file is on disk, so a failure leaves nothing issued.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from flask.cli import AppGroup

from webapp.cli_admins import cli_origin, resolve_admin
from webapp.delivery.cli import credentials_cli
from webapp.extensions import db
from webapp.models import AccountState, User
from webapp.printing import badges, flow, letters, reports
from webapp.printing.slips import PER_PAGE_CHOICES, Layout, SlipOptions
from webapp.services import scope
from webapp.services.errors import NotAllowed, PolicyError
from webapp.services.exports import EXPORT_ROLES, ExportFilter

LAYOUTS = [layout.value for layout in Layout]


def _open_new(path: Path) -> int:
    """Open a new owner-only file, refusing to replace one."""
    if not path.parent.is_dir():
        raise click.ClickException(f"No such folder: {path.parent}")
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{path} already exists; choose another --out path.") from None


def _write_then_commit(path: Path, pdf: bytes) -> None:
    """Write the PDF, then commit; if the commit fails, the file goes too."""
    fd = _open_new(path)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pdf)
    try:
        db.session.commit()
    except Exception:
        path.unlink(missing_ok=True)
        raise


@credentials_cli.command("print")
@click.argument("batch_id", type=int)
@click.option("--as", "as_username", required=True, help="Admin username to act as.")
@click.option("--layout", type=click.Choice(LAYOUTS), default="saver", show_default=True,
              help="saver: several slips a page, to cut apart; single: one per page.")  # fmt: skip
@click.option("--per-page", type=click.Choice([str(n) for n in PER_PAGE_CHOICES]), default="10",
              show_default=True, help="Slips a page with the paper saver.")  # fmt: skip
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the PDF (a new file).")  # fmt: skip
def print_command(batch_id: int, as_username: str, layout: str, per_page: str, out: Path) -> None:
    """Print the slips (or parent letters) of a batch awaiting print."""
    with cli_origin():
        actor = resolve_admin(as_username)
        if out.exists():
            raise click.ClickException(f"{out} already exists; choose another --out path.")
        options = SlipOptions(Layout(layout), int(per_page))
        try:
            printed = flow.print_batch(batch_id, actor, options)
        except NotAllowed:
            db.session.rollback()
            raise click.ClickException(f"No such batch: {batch_id}.") from None
        except PolicyError as exc:
            db.session.rollback()
            raise click.ClickException(f"Batch {batch_id}: {' '.join(exc.problems)}") from None
        _write_then_commit(out, printed.pdf)
    click.echo(f"Batch {batch_id}: {printed.printed} printed to {out}. The batch is done.")
    if printed.skipped:
        click.echo(f"  {printed.skipped} left out (deactivated since the batch was made).")
    click.echo("  The PDF holds live credentials: print it, hand it out, then delete the file.")


@credentials_cli.command("print-letters")
@click.option("--as", "as_username", required=True, help="Admin username to act as.")
@click.option(
    "--school", "school_id", type=int, help="School id (a whole school, or with --grade)."
)
@click.option("--class", "class_id", type=int, help="Class id.")
@click.option("--grade", help="Grade code, such as KG or 05 (needs --school).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the PDF (a new file).")  # fmt: skip
def print_letters_command(
    as_username: str, school_id: int | None, class_id: int | None, grade: str | None, out: Path
) -> None:
    """Print parent letters for a class, a grade of a school, or a school."""
    if class_id is not None and (school_id is not None or grade):
        raise click.UsageError("Give --class alone, or --school (with --grade if you like).")
    if grade and school_id is None:
        raise click.UsageError("--grade needs --school.")
    if class_id is None and school_id is None:
        raise click.UsageError(
            "Say whose parents: --school ID, --class ID, or --grade G --school ID."
        )
    with cli_origin():
        actor = resolve_admin(as_username)
        if out.exists():
            raise click.ClickException(f"{out} already exists; choose another --out path.")
        try:
            selection, pdf = letters.print_letters(
                actor, school_id=school_id, class_id=class_id, grade=grade
            )
        except NotAllowed:
            db.session.rollback()
            which = f"class {class_id}" if class_id is not None else f"school {school_id}"
            raise click.ClickException(f"No such {which} among your schools.") from None
        except PolicyError as exc:
            db.session.rollback()
            raise click.ClickException(" ".join(exc.problems)) from None
        _write_then_commit(out, pdf)
    click.echo(f"{len(selection.students)} parent letter(s) for {selection.school.name} to {out}.")


@credentials_cli.command("report")
@click.argument("kind", type=click.Choice([k.value for k in reports.ReportKind]))
@click.option("--as", "as_username", required=True, help="Admin username to act as.")
@click.option("--school", "school_id", type=int, help="School id.")
@click.option("--class", "class_id", type=int, help="Class id.")
@click.option("--grade", help="Grade code, such as KG or 05.")
@click.option("--role", type=click.Choice([r.value for r in EXPORT_ROLES]), help="Role.")
@click.option("--state", type=click.Choice([s.value for s in AccountState]), help="Account state.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the PDF (a new file).")  # fmt: skip
def report_command(
    kind: str,
    as_username: str,
    school_id: int | None,
    class_id: int | None,
    grade: str | None,
    role: str | None,
    state: str | None,
    out: Path,
) -> None:
    """Print an account report: student-info, user-info or credentials (resets passwords)."""
    filters = ExportFilter(role=role, class_id=class_id, state=state, school_id=school_id,
                           grade=grade.strip().upper() if grade else None)  # fmt: skip
    with cli_origin():
        actor = resolve_admin(as_username)
        if out.exists():
            raise click.ClickException(f"{out} already exists; choose another --out path.")
        try:
            report, pdf = reports.print_report(actor, reports.ReportKind(kind), filters, limit=None)
        except NotAllowed:
            db.session.rollback()
            raise click.ClickException("No such school or class among your schools.") from None
        except PolicyError as exc:
            db.session.rollback()
            raise click.ClickException(" ".join(exc.problems)) from None
        _write_then_commit(out, pdf)
    click.echo(f"{report.kind.title}: {len(report.rows)} people to {out}.")
    if report.kind is reports.ReportKind.CREDENTIALS:
        click.echo("  Their passwords were reset: the PDF holds the only copy. Print it, hand")
        click.echo("  each line to its owner, then delete the file.")


badges_cli = AppGroup("badges", help="QR sign-in badges.")


@badges_cli.command("revoke")
@click.option("--as", "as_username", required=True, help="Admin username to act as.")
@click.option("--student", "student", help="A student's username.")
@click.option("--class", "class_id", type=int, help="Class id: every badge of its students.")
@click.option("--everyone", is_flag=True, help="Every badge at the admin's schools (year end).")
def badges_revoke(
    as_username: str, student: str | None, class_id: int | None, everyone: bool
) -> None:
    """Stop badges from signing anyone in."""
    if sum(bool(x) for x in (student, class_id, everyone)) != 1:
        raise click.UsageError("Give exactly one of --student, --class or --everyone.")
    with cli_origin():
        actor = resolve_admin(as_username)
        try:
            if student:
                person = db.session.scalar(
                    scope.visible_users(actor).where(User.username == student.strip().lower())
                )
                if person is None:
                    raise NotAllowed("student outside scope")
                revoked = badges.revoke([person.id], actor)
            else:
                revoked = badges.revoke_for(actor, class_id=class_id, everyone=everyone)
        except NotAllowed:
            raise click.ClickException(
                "No such student or class at the schools of " + as_username
            ) from None
        db.session.commit()
    click.echo(f"{revoked} badge(s) revoked.")
