"""What every flask command shares: the admin it acts as and the school it names."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Role, School, User
from webapp.services import audit, schools
from webapp.services.audit import Origin, current_origin
from webapp.services.errors import NotAllowed, PolicyError


@contextmanager
def cli_origin() -> Iterator[None]:
    """Mark a command's audit rows as coming from the command line."""
    token = current_origin.set(Origin(ip="cli", request_id=str(uuid.uuid4())))
    try:
        yield
    finally:
        current_origin.reset(token)


def resolve_admin(username: str | None) -> User:
    """Return the admin a command acts as: --as, else the only district-wide admin."""
    admins = select(User).where(User.role == Role.ADMIN, User.deactivated_at.is_(None))
    if username:
        user = db.session.scalar(admins.where(User.username == username.strip().lower()))
        if user is None:
            raise click.ClickException(f"--as must name an active admin; {username!r} is not one.")
        return user
    district = db.session.scalars(admins.where(User.district_wide.is_(True))).all()
    if len(district) != 1:
        raise click.ClickException(
            "Say which admin runs the command with --as USERNAME "
            f"(there are {len(district)} district-wide admins)."
        )
    return district[0]


def resolve_school(ref: str, actor: User) -> School:
    """Return the school --school names (id, SIS id or exact name), or stop with why not."""
    try:
        return schools.find_school(ref, actor=actor)
    except PolicyError as exc:
        raise click.ClickException(" ".join(exc.problems)) from exc
    except NotAllowed as exc:
        db.session.rollback()
        audit.record(
            actor,
            "authz_denied",
            reason=exc.what,
            object_type=exc.target_type,
            object_id=exc.target_id,
            endpoint="cli",
        )
        db.session.commit()
        raise click.ClickException(f"Not your school: {ref.strip()}.") from exc
