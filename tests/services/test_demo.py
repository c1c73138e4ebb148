"""The demo district: realistic, deterministic, and created once."""

from __future__ import annotations

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Enrollment, GuardianLink, Role, User
from webapp.services import demo


def snapshot() -> list[tuple]:
    return list(
        db.session.execute(
            select(User.username, User.given_name, User.family_name, User.role, User.grade,
                   User.email, User.phone).order_by(User.username)
        )
    )  # fmt: skip


def test_demo_seed_is_deterministic(app, tmp_path):
    with app.app_context():
        demo.seed_demo(7)
        first = snapshot()
        db.session.rollback()
        demo.seed_demo(7)
        assert snapshot() == first
        db.session.rollback()
        demo.seed_demo(8)
        assert snapshot() != first


def test_demo_district_is_realistic(app):
    with app.app_context():
        counts = demo.seed_demo(2026)
        db.session.commit()
        by_role = dict(
            db.session.execute(select(User.role, func.count()).group_by(User.role)).all()
        )
        assert counts["schools"] == 2
        assert 550 <= by_role[Role.STUDENT] <= 650
        assert 850 <= by_role[Role.PARENT] <= 950
        assert 35 <= by_role[Role.TEACHER] <= 45
        grades = set(db.session.scalars(select(User.grade).where(User.role == Role.STUDENT)))
        assert {"KG", "05", "06", "12"} <= grades
        no_email = db.session.scalar(
            select(func.count()).where(User.role == Role.PARENT, User.email.is_(None))
        )
        assert no_email > 50
        shared = db.session.scalar(
            select(func.count()).select_from(
                select(GuardianLink.parent_id)
                .group_by(GuardianLink.parent_id)
                .having(func.count() > 1)
                .subquery()
            )
        )
        assert shared > 20  # parents of siblings
        assert db.session.scalar(select(func.count(Enrollment.id))) > 1000
        states = {u.state for u in db.session.scalars(select(User))}
        assert {s.value for s in states} == {"not_sent", "invited", "active", "deactivated"}
        assert demo.demo_exists()
        from webapp.services import settings

        assert settings.zone().key == "America/Chicago"  # pages show a district's clock


def test_demo_sign_ins_work(app, client):
    with app.app_context():
        demo.seed_demo(2026)
        db.session.commit()
    for entry in demo.DEMO_SIGN_INS:
        c = app.test_client()
        response = c.sign_in(entry.username, demo.DEMO_PASSWORD)
        assert response.status_code == 302, entry.username
        assert c.get(response.headers["Location"]).status_code == 200


def test_seed_command_runs_once(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo", "seed", "--seed", "3"])
    assert "Demo district created" in first.output
    second = runner.invoke(args=["demo", "seed"])
    assert "already holds schools" in second.output
