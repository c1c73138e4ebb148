"""`flask schools ...`: list, create and rename schools, and give them their SIS ids."""

from __future__ import annotations

from collections.abc import Callable

import click
from flask.cli import AppGroup

from webapp.cli_admins import resolve_admin, resolve_school
from webapp.extensions import db
from webapp.models import School
from webapp.services import schools
from webapp.services.errors import NotAllowed, PolicyError

schools_cli = AppGroup("schools", help="List, create and rename schools.")
AS_OPTION = click.option("--as", "as_user", help="Admin username to act as.")


def _change(work: Callable[[], School]) -> School:
    """Run one change and commit it, or stop with the rule that refused it."""
    try:
        school = work()
    except PolicyError as exc:
        db.session.rollback()
        raise click.ClickException(" ".join(exc.problems)) from exc
    except NotAllowed as exc:
        db.session.rollback()
        raise click.ClickException("Only a district-wide admin can change schools.") from exc
    db.session.commit()
    return school


def _show(school: School) -> str:
    return f"{school.id}\t{school.sourced_id or '-'}\t{school.name}"


@schools_cli.command("list")
@AS_OPTION
def schools_list(as_user: str | None) -> None:
    """List the schools: id, SIS id, name and how many people belong to each."""
    actor = resolve_admin(as_user)
    rows = schools.list_schools(actor)
    if not rows:
        click.echo("No schools yet: add one with `flask schools create NAME`.")
        return
    click.echo("id\tSIS id\tname\tpeople")
    for row in rows:
        click.echo(f"{_show(row.school)}\t{row.people}")


@schools_cli.command("create")
@click.argument("name")
@click.option("--sis-id", help="The school's id in the SIS, so its exports find it.")
@AS_OPTION
def schools_create(name: str, sis_id: str | None, as_user: str | None) -> None:
    """Create a school called NAME."""
    actor = resolve_admin(as_user)
    school = _change(lambda: schools.create_school(name, actor=actor, sis_id=sis_id))
    click.echo(f"Created: {_show(school)}")


@schools_cli.command("rename")
@click.argument("school_ref", metavar="SCHOOL")
@click.argument("new_name", required=False)
@click.option("--sis-id", help="Set the school's SIS id (an empty value clears it).")
@AS_OPTION
def schools_rename(
    school_ref: str, new_name: str | None, sis_id: str | None, as_user: str | None
) -> None:
    """Rename SCHOOL (its id, SIS id or exact name) to NEW_NAME, and/or set its SIS id."""
    if new_name is None and sis_id is None:
        raise click.UsageError("Give a NEW_NAME, an --sis-id, or both.")
    actor = resolve_admin(as_user)
    school = resolve_school(school_ref, actor)

    def work() -> School:
        if new_name is not None:
            schools.rename_school(school.id, new_name, actor=actor)
        if sis_id is not None:
            schools.set_sis_id(school.id, sis_id, actor=actor)
        return school

    click.echo(f"Saved: {_show(_change(work))}")
