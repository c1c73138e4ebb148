"""The page behind a set-password link: token-free URL, private headers, clear dead ends."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from tests.factories import make_school, make_user
from webapp.delivery import links
from webapp.extensions import db, mail
from webapp.models import CredentialBatch, Role, User, utcnow
from webapp.services import audit, passwords

NEW_PASSWORD = "maple syrup pancakes"


@pytest.fixture
def link(app) -> tuple[int, str]:
    with app.app_context():
        user = make_user(
            Role.STUDENT,
            school=make_school("Riverside High"),
            password=None,
            grade="07",
            email="kid@families.example",
        )
        issued = links.issue_link(user, actor=audit.SYSTEM)
        db.session.commit()
        return user.id, issued.url.removeprefix("https://keyslip.test")


def _form_token(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def _private(response) -> None:
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_link_moves_to_a_token_free_url(client, link):
    _, path = link
    response = client.get(path)
    assert response.status_code == 303
    assert response.headers["Location"] == "/set-password"
    _private(response)


@pytest.mark.settings(HTMX_USE_CDN=True)
def test_form_page_is_private_and_loads_no_third_party_assets(client, link):
    _, path = link
    response = client.get(path, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Choose your password" in html
    _private(response)
    assert '<meta name="referrer" content="no-referrer">' in html
    assert "cdn.jsdelivr.net" not in html
    assert not re.search(r'(src|href)="https?://', html)
    assert path.rsplit("/", 1)[1] not in html


def test_setting_the_password_activates_and_signs_in(app, client, link):
    user_id, path = link
    page = client.get(path, follow_redirects=True).get_data(as_text=True)
    response = client.post(
        "/set-password",
        data={
            "csrf_token": _form_token(page),
            "new_password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/account"
    assert client.get("/account").status_code == 200
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user.activated_at is not None
        assert passwords.verify_password(user.password_hash, NEW_PASSWORD)


def test_replaying_a_used_link_and_its_form_is_refused(app, client, link):
    user_id, path = link
    page = client.get(path, follow_redirects=True).get_data(as_text=True)
    token = _form_token(page)
    data = {"csrf_token": token, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    client.post("/set-password", data=data)
    client.post("/sign-out", data={"csrf_token": client.csrf_token("/account")})

    again = client.get(path, follow_redirects=True)
    assert again.status_code == 410
    html = again.get_data(as_text=True)
    assert "already been used" in html
    assert "new_password" not in html

    # The captured POST, replayed in a session that still holds the token hash.
    attacker = app.test_client()
    attacker.get(path)
    replay = attacker.post(
        "/set-password",
        data={
            "csrf_token": attacker.csrf_token("/sign-in"),
            "new_password": "attacker chosen words",
            "confirm": "attacker chosen words",
        },
    )
    assert replay.status_code == 410
    with app.app_context():
        user = db.session.get(User, user_id)
        assert passwords.verify_password(user.password_hash, NEW_PASSWORD)


def test_policy_problems_are_shown_and_the_link_keeps_working(client, link):
    _, path = link
    page = client.get(path, follow_redirects=True).get_data(as_text=True)
    response = client.post(
        "/set-password",
        data={"csrf_token": _form_token(page), "new_password": "password", "confirm": "password"},
    )
    assert response.status_code == 422
    assert "too common" in response.get_data(as_text=True)
    assert client.get("/set-password").status_code == 200


def test_expired_link_says_so_and_who_to_ask(client, link):
    _, path = link
    with time_machine.travel(timedelta(days=8)):
        response = client.get(path, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 410
    assert "has expired" in html
    assert "your teacher or the school office" in html
    assert "Riverside High" in html
    _private(response)


@pytest.mark.settings(TESTING_ERROR_PAGES=True)
@pytest.mark.parametrize(
    "suffix",
    [
        "flip",
        "truncate",
        "A" * 10_000,
        "%FF%FE%FD",
        "%C3%28",
        "!!!!not-base64!!!!",
        "..%2F..%2Fetc%2Fpasswd",
        "%00",
    ],
)
def test_tampered_links_get_a_clear_page_never_a_500(client, link, suffix):
    _, path = link
    token = path.rsplit("/", 1)[1]
    if suffix == "flip":
        bad = token[:10] + ("B" if token[10] == "A" else "A") + token[11:]
    elif suffix == "truncate":
        bad = token[:30]
    else:
        bad = suffix
    response = client.get(f"/set-password/{bad}", follow_redirects=True)
    assert response.status_code == 404
    assert "This link does not work" in response.get_data(as_text=True)
    # The real link still works afterwards.
    assert client.get(path, follow_redirects=True).status_code == 200


def test_set_password_without_a_link_is_a_clear_page(client):
    response = client.get("/set-password")
    assert response.status_code == 404
    assert "This link does not work" in response.get_data(as_text=True)


# "Email me a new link" on a dead invite -------------------------------------------------------


def _ask_for_a_new_link(client, path: str, *, days: int = 8):
    with time_machine.travel(timedelta(days=days)):
        page = client.get(path, follow_redirects=True).get_data(as_text=True)
        if "Email me a new link" not in page:
            return page, None
        return page, client.post("/set-password/new-link", data={"csrf_token": _form_token(page)})


def test_an_expired_invite_can_email_its_owner_a_new_link_once(app, client, link):
    user_id, path = link
    with mail.record_messages() as outbox:
        page, response = _ask_for_a_new_link(client, path)
        assert response is not None and response.status_code == 410
        assert "We have emailed a new link" in response.get_data(as_text=True)
        # Asking again with the same dead link sends nothing more.
        _, again = _ask_for_a_new_link(client, path)
    assert again is None or "We have emailed a new link" in again.get_data(as_text=True)
    assert [m.recipients for m in outbox] == [["kid@families.example"]]
    new_path = re.search(r"https://keyslip\.test(/set-password/\S+)", outbox[0].body).group(1)
    with time_machine.travel(timedelta(days=8)):
        fresh = client.get(new_path, follow_redirects=True)
    assert fresh.status_code == 200 and "Choose your password" in fresh.get_data(as_text=True)
    with app.app_context():
        [batch] = db.session.scalars(select(CredentialBatch)).all()
        assert batch.requested_by_id == user_id and batch.kind == "link"


def test_no_new_link_without_an_own_email_or_for_an_active_account(app, client, link):
    user_id, path = link
    with app.app_context():
        db.session.get(User, user_id).email = None
        db.session.commit()
    page, response = _ask_for_a_new_link(client, path)
    assert response is None and "Ask your teacher or the school office" in page
    with app.app_context():
        user = db.session.get(User, user_id)
        user.email, user.activated_at = "kid@families.example", utcnow()
        db.session.commit()
    page, response = _ask_for_a_new_link(client, path)
    assert response is None
    # Posting anyway changes nothing.
    with time_machine.travel(timedelta(days=8)), mail.record_messages() as outbox:
        token = _form_token(client.get("/sign-in").get_data(as_text=True))
        refused = client.post("/set-password/new-link", data={"csrf_token": token})
    assert refused.status_code == 410 and outbox == []
    with app.app_context():
        assert db.session.scalar(select(func.count(CredentialBatch.id))) == 0


@pytest.mark.settings(RATELIMIT_ENABLED=True, NEW_LINK_RATE_LIMIT="2 per hour")
def test_asking_for_new_links_is_rate_limited(client, link):
    _, path = link
    with time_machine.travel(timedelta(days=8)):
        page = client.get(path, follow_redirects=True).get_data(as_text=True)
        token = _form_token(page)
        codes = [
            client.post("/set-password/new-link", data={"csrf_token": token}).status_code
            for _ in range(3)
        ]
    assert codes[-1] == 429
