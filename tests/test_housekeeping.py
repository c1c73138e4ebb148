"""Housekeeping: retention rules, batches that go on by themselves, and the command."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import func, select

from tests.factories import make_school, make_user
from webapp import housekeeping
from webapp.extensions import db
from webapp.models import (
    BatchStatus,
    CredentialBatch,
    ParentCode,
    Role,
    SessionRecord,
    SetPasswordToken,
    utcnow,
)

DAY = timedelta(days=1)


def _token(user_id: int, **moments) -> SetPasswordToken:
    now = utcnow()
    token = SetPasswordToken(
        user_id=user_id,
        token_hash=secrets.token_hex(32),
        purpose="invite",
        epoch="e",
        expires_at=moments.pop("expires_at", now + 7 * DAY),
        **moments,
    )
    db.session.add(token)
    return token


def _code(student_id: int, **moments) -> ParentCode:
    code = ParentCode(
        student_id=student_id,
        code_ciphertext=b"sealed",
        code_lookup=secrets.token_hex(32),
        expires_at=moments.pop("expires_at", utcnow() + 30 * DAY),
        **moments,
    )
    db.session.add(code)
    return code


def _left(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_links_and_codes_go_once_dead_for_the_retention_period_and_live_ones_stay(app):
    with app.app_context():
        days = app.config["RETENTION_TOKEN_DAYS"]
        assert days == app.config["RETENTION_CODE_DAYS"] == 30
        now = utcnow()
        long_ago, lately = now - (days + 1) * DAY, now - (days - 1) * DAY
        student = make_user(Role.STUDENT, school=make_school())
        live = _token(student.id)
        _token(student.id, used_at=long_ago)
        _token(student.id, voided_at=long_ago)
        _token(student.id, expires_at=long_ago)
        recent = _token(student.id, used_at=lately)
        live_code = _code(student.id)
        _code(student.id, voided_at=long_ago)
        _code(student.id, expires_at=long_ago)
        recent_code = _code(student.id, expires_at=lately)
        db.session.commit()

        removed = housekeeping.purge_all(now)

        assert removed["set-password links"] == 3 and removed["parent codes"] == 2
        assert set(db.session.scalars(select(SetPasswordToken.id))) == {live.id, recent.id}
        assert set(db.session.scalars(select(ParentCode.id))) == {live_code.id, recent_code.id}


def test_the_retention_period_is_a_setting(app):
    app.config["RETENTION_TOKEN_DAYS"] = 2
    with app.app_context():
        student = make_user(Role.STUDENT, school=make_school())
        _token(student.id, used_at=utcnow() - 3 * DAY)
        db.session.commit()
        assert housekeeping.purge_all()["set-password links"] == 1


def test_expired_sessions_go_and_live_ones_stay(app):
    with app.app_context():
        now = utcnow()
        db.session.add_all(
            [
                SessionRecord(session_id="old", data=b"x", expiry=now - DAY),
                SessionRecord(session_id="live", data=b"x", expiry=now + DAY),
            ]
        )
        db.session.commit()
        assert housekeeping.purge_all(now)["sessions"] == 1
        assert list(db.session.scalars(select(SessionRecord.session_id))) == ["live"]


def test_the_job_resumes_a_paused_batch_whose_time_has_come(app):
    from tests.delivery.conftest import make_district
    from webapp.delivery import batches
    from webapp.models import User

    district = make_district(app, 2)
    with app.app_context():
        actor = db.session.get(User, district.admin_id)
        batch = batches.send_credentials(district.student_ids, "link", "email", {}, actor)
        db.session.commit()
        batch.status = BatchStatus.PAUSED
        batch.resume_at = utcnow() - timedelta(minutes=1)
        batch_id = batch.id
        db.session.commit()
        done = housekeeping.housekeeping()
        assert done["batches resumed"] == 1
        assert db.session.get(CredentialBatch, batch_id).status is BatchStatus.DONE


def test_the_command_says_what_went(app):
    with app.app_context():
        student = make_user(Role.STUDENT, school=make_school())
        _token(student.id, expires_at=utcnow() - 60 * DAY)
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["housekeeping", "purge"])
    assert result.exit_code == 0, result.output
    assert "set-password links: 1" in result.output
    assert "sessions: 0" in result.output
    with app.app_context():
        assert _left(SetPasswordToken) == 0


def test_the_job_refreshes_sqlites_planner_statistics(app):
    from sqlalchemy import text

    with app.app_context():
        make_user(Role.STUDENT, school=make_school())
        db.session.commit()
        done = housekeeping.housekeeping()
        if db.session.get_bind().dialect.name != "sqlite":
            assert done["planner statistics"] == 0  # PostgreSQL's autovacuum does this
            return
        assert done["planner statistics"] == 1
        indexes = db.session.scalars(text("SELECT idx FROM sqlite_stat1 WHERE tbl = 'users'"))
        assert "ix_users_role_name" in set(indexes)
