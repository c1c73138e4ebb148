"""Every route is deny-by-default: anonymous visitors reach only the declared public pages."""

from __future__ import annotations

import re

import pytest

PUBLIC = {
    "static",
    "favicon",
    "auth.index",
    "auth.sign_in",
    "delivery.set_password",
    "delivery.set_password_link",
    "auth.forgot_password",
    "auth.pin_recovery",
    "self_service.parent_register",
    "auth.badge_link",
    "auth.badge",
}


def routes(app):
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:int:)?[^>]+>", "1", rule.rule)
        yield rule.endpoint, path, rule.methods - {"HEAD", "OPTIONS"}


def test_anonymous_gets_a_sign_in_redirect_or_401_everywhere_but_public_pages(app, client):
    checked = 0
    for endpoint, path, methods in routes(app):
        if endpoint in PUBLIC or "GET" not in methods:
            continue
        page = client.get(path)
        assert page.status_code == 302 and "/sign-in" in page.headers["Location"], endpoint
        fragment = client.get(path, headers={"HX-Request": "true"})
        assert fragment.status_code == 401 and fragment.headers["HX-Redirect"] == "/sign-in"
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("hx", [False, True])
def test_no_state_change_without_a_csrf_token(app, client, hx):
    headers = {"HX-Request": "true"} if hx else {}
    posts = [(e, p) for e, p, m in routes(app) if "POST" in m]
    assert len(posts) >= 5
    for endpoint, path in posts:
        response = client.post(path, data={"identifier": "x", "password": "y"}, headers=headers)
        assert response.status_code == 400, endpoint


@pytest.mark.parametrize("role", ["teacher", "parent", "student", "staff"])
def test_only_admins_reach_admin_routes(app, client, role):
    from tests.factories import PASSWORD, make_school, make_user
    from webapp.extensions import db

    with app.app_context():
        make_user(role, school=make_school(), username=f"who.{role}")
        db.session.commit()
    client.sign_in(f"who.{role}", PASSWORD)
    admin_gets = [(e, p) for e, p, m in routes(app) if e.startswith("admin.") and "GET" in m]
    assert len(admin_gets) >= 8
    for endpoint, path in admin_gets:
        assert client.get(path).status_code == 404, endpoint
