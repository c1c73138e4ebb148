"""Set-password links: hashed, epoch-bound, single use, expiring, voided by newer events."""

from __future__ import annotations

import hashlib
import os
import threading
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select, text

from tests.factories import make_school, make_user
from webapp.delivery import links
from webapp.delivery.links import LinkError, LinkStatus
from webapp.extensions import db
from webapp.models import AuditEvent, Role, SetPasswordToken, User, utcnow
from webapp.services import audit, auth, passwords, settings
from webapp.services.errors import PolicyError

NEW_PASSWORD = "maple syrup pancakes"


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1]


@pytest.fixture
def student_id(app) -> int:
    with app.app_context():
        user = make_user(Role.STUDENT, school=make_school(), password=None, grade="05")
        db.session.commit()
        return user.id


def _issue(app, user_id: int, **kwargs) -> links.IssuedLink:
    with app.app_context():
        user = db.session.get(User, user_id)
        issued = links.issue_link(user, actor=audit.SYSTEM, **kwargs)
        db.session.commit()
        return issued


def test_link_is_built_from_base_url_not_the_request_host(app, student_id):
    with app.test_request_context("/", base_url="https://evil.example"):
        issued = links.issue_link(db.session.get(User, student_id), actor=audit.SYSTEM)
    assert issued.url.startswith("https://keyslip.test/set-password/")
    assert len(_token(issued.url)) == 43


def test_only_the_sha256_of_the_token_is_stored(app, student_id):
    issued = _issue(app, student_id)
    token = _token(issued.url)
    with app.app_context():
        row = db.session.get(SetPasswordToken, issued.token_id)
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        dump = db.session.execute(text("SELECT * FROM set_password_tokens")).all()
        assert token not in repr(dump)


def test_link_redeems_once_and_activates_the_account(app, student_id):
    issued = _issue(app, student_id)
    token_hash = links.hash_token(_token(issued.url))
    with app.app_context():
        user = links.redeem(token_hash, NEW_PASSWORD)
        db.session.commit()
        assert user.activated_at is not None
        assert passwords.verify_password(user.password_hash, NEW_PASSWORD)
    with app.app_context():
        with pytest.raises(LinkError) as err:
            links.redeem(token_hash, "another password entirely")
        db.session.rollback()
        assert err.value.status is LinkStatus.USED
        user = db.session.get(User, student_id)
        assert passwords.verify_password(user.password_hash, NEW_PASSWORD)


def test_refused_password_does_not_burn_the_link(app, student_id):
    issued = _issue(app, student_id)
    token_hash = links.hash_token(_token(issued.url))
    with app.app_context():
        with pytest.raises(PolicyError):
            links.redeem(token_hash, "password")
        db.session.rollback()
        assert links.check_hash(token_hash).status is LinkStatus.VALID


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(timedelta(seconds=-1), LinkStatus.VALID), (timedelta(seconds=1), LinkStatus.EXPIRED)],
)
def test_invite_expires_after_seven_days(app, student_id, offset, expected):
    issued = _issue(app, student_id)
    token_hash = links.hash_token(_token(issued.url))
    assert issued.expires_at - utcnow() > timedelta(days=7) - timedelta(minutes=1)
    with time_machine.travel(issued.expires_at + offset, tick=False), app.app_context():
        assert links.check_hash(token_hash).status is expected
        if expected is LinkStatus.VALID:
            links.redeem(token_hash, NEW_PASSWORD)
        else:
            with pytest.raises(LinkError):
                links.redeem(token_hash, NEW_PASSWORD)
        db.session.rollback()


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(timedelta(seconds=-1), LinkStatus.VALID), (timedelta(seconds=1), LinkStatus.EXPIRED)],
)
def test_reset_link_lives_one_hour(app, student_id, offset, expected):
    issued = _issue(app, student_id, purpose="reset")
    assert abs(issued.expires_at - utcnow() - timedelta(hours=1)) < timedelta(minutes=1)
    with time_machine.travel(issued.expires_at + offset, tick=False), app.app_context():
        assert links.check_token(_token(issued.url)).status is expected


def test_school_setting_shortens_the_invite_lifetime(app, student_id):
    with app.app_context():
        admin = make_user(Role.ADMIN, district_wide=True)
        user = db.session.get(User, student_id)
        settings.set("invite_link_days", 2, user.schools[0], admin)
        db.session.commit()
    issued = _issue(app, student_id)
    assert abs(issued.expires_at - utcnow() - timedelta(days=2)) < timedelta(minutes=1)


def test_newer_link_of_the_same_purpose_voids_the_older(app, student_id):
    first = _issue(app, student_id)
    second = _issue(app, student_id)
    with app.app_context():
        assert links.check_token(_token(first.url)).status is LinkStatus.REPLACED
        assert db.session.get(SetPasswordToken, first.token_id).voided_at is not None
        assert links.check_token(_token(second.url)).status is LinkStatus.VALID


def test_any_newer_link_kills_older_ones_through_the_epoch(app, student_id):
    invite = _issue(app, student_id, purpose="invite")
    _issue(app, student_id, purpose="reset")
    with app.app_context():
        assert links.check_token(_token(invite.url)).status is LinkStatus.REPLACED


def test_password_change_voids_outstanding_links(app, student_id):
    issued = _issue(app, student_id)
    with app.app_context():
        user = db.session.get(User, student_id)
        auth.set_password(user, NEW_PASSWORD, actor=user)
        db.session.commit()
        assert links.check_token(_token(issued.url)).status is LinkStatus.REPLACED
        with pytest.raises(LinkError):
            links.redeem(links.hash_token(_token(issued.url)), "yet another pass phrase")


def test_deactivation_kills_the_link_even_after_reactivation(app, student_id):
    issued = _issue(app, student_id)
    token = _token(issued.url)
    with app.app_context():
        user = db.session.get(User, student_id)
        # What deactivation does: switch off and rotate the epoch.
        user.deactivated_at = utcnow()
        user.rotate_epoch()
        db.session.commit()
        assert links.check_token(token).status is LinkStatus.DEACTIVATED
        with pytest.raises(LinkError):
            links.redeem(links.hash_token(token), NEW_PASSWORD)
        db.session.rollback()
        user = db.session.get(User, student_id)
        user.deactivated_at = None
        db.session.commit()
        assert links.check_token(token).status is LinkStatus.REPLACED


def test_a_deactivated_account_refuses_even_with_an_unchanged_epoch(app, student_id):
    issued = _issue(app, student_id)
    with app.app_context():
        db.session.get(User, student_id).deactivated_at = utcnow()
        db.session.commit()
        assert links.check_token(_token(issued.url)).status is LinkStatus.DEACTIVATED


def _tampered(token: str) -> list[object]:
    flipped = ("B" if token[5] == "A" else "A").join((token[:5], token[6:]))
    return [
        flipped,
        token[:-1],
        token[:20],
        token + "A",
        "A" * 10_000,
        "\udcff" * 43,
        "é" * 43,
        "!" * 43,
        "",
        None,
        b"\xff" * 43,
    ]


def test_tampered_tokens_are_invalid(app, student_id):
    issued = _issue(app, student_id)
    token = _token(issued.url)
    with app.app_context():
        for bad in _tampered(token):
            assert links.check_token(bad).status is LinkStatus.INVALID, bad
        assert links.check_token(token).status is LinkStatus.VALID


def test_lookup_is_by_hash_and_compared_in_constant_time(app, student_id, monkeypatch):
    issued = _issue(app, student_id)
    calls = []
    real = links.hmac.compare_digest
    monkeypatch.setattr(links.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    with app.app_context():
        assert links.check_token(_token(issued.url)).status is LinkStatus.VALID
    assert calls


def test_issuing_and_redeeming_are_audited_without_the_secret(app, student_id):
    issued = _issue(app, student_id)
    with app.app_context():
        links.redeem(links.hash_token(_token(issued.url)), NEW_PASSWORD)
        db.session.commit()
        events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        actions = [e.action for e in events]
        assert "credential_issued" in actions and "link_redeemed" in actions
        assert _token(issued.url) not in repr([e.details for e in events])


def test_two_parallel_redemptions_exactly_one_wins(app, student_id):
    issued = _issue(app, student_id)
    token_hash = links.hash_token(_token(issued.url))
    barrier = threading.Barrier(2)
    results: list[str] = []

    def redeem(password: str) -> None:
        with app.app_context():
            barrier.wait()
            try:
                links.redeem(token_hash, password)
                db.session.commit()
                results.append("won")
            except LinkError:
                db.session.rollback()
                results.append("lost")
            except Exception as exc:  # a lock error also means this one lost
                db.session.rollback()
                results.append(f"error:{type(exc).__name__}")

    threads = [
        threading.Thread(target=redeem, args=(p,))
        for p in ("first choice of words", "second choice words")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["lost", "won"], results
    with app.app_context():
        row = db.session.scalar(
            select(SetPasswordToken).where(SetPasswordToken.token_hash == token_hash)
        )
        assert row.used_at is not None
        assert db.session.get(User, student_id).activated_at is not None
    assert os.environ.get("TEST_DATABASE_URL") or app.config["SQLALCHEMY_DATABASE_URI"].startswith(
        "sqlite:///"
    )
