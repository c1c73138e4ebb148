"""Security headers, htmx loading, error pages and htmx-aware responses."""

from __future__ import annotations

import pytest

from tests.factories import PASSWORD, make_school, make_user
from webapp.extensions import db
from webapp.models import Role


def test_security_headers_on_html_pages(client):
    response = client.get("/sign-in")
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


@pytest.mark.settings(HTMX_USE_CDN=True)
def test_htmx_comes_from_the_pinned_cdn_with_sri_and_a_vendored_fallback(app, client):
    html = client.get("/sign-in").get_data(as_text=True)
    assert f'src="{app.config["HTMX_CDN_URL"]}"' in html
    assert f'integrity="{app.config["HTMX_SRI"]}"' in html
    csp = client.get("/sign-in").headers["Content-Security-Policy"]
    # The pinned file's full path, never the whole CDN host.
    assert f"script-src 'self' {app.config['HTMX_CDN_URL']};" in csp
    assert "https://cdn.jsdelivr.net " not in csp and "https://cdn.jsdelivr.net;" not in csp
    fallback = client.get("/static/js/htmx-fallback.js")
    assert fallback.status_code == 200
    assert client.get("/static/" + app.config["HTMX_VENDOR_FILE"]).status_code == 200


def test_vendored_htmx_matches_the_sri_hash(app):
    import base64
    import hashlib
    from pathlib import Path

    data = (Path(app.static_folder) / app.config["HTMX_VENDOR_FILE"]).read_bytes()
    digest = base64.b64encode(hashlib.sha384(data).digest()).decode()
    assert app.config["HTMX_SRI"] == f"sha384-{digest}"


def test_csrf_token_is_in_body_hx_headers(client):
    html = client.get("/sign-in").get_data(as_text=True)
    assert '<body hx-headers=\'{"X-CSRFToken": "' in html


def test_signed_in_pages_are_not_cached(app, client):
    with app.app_context():
        make_user(Role.TEACHER, school=make_school(), username="t.cache")
        db.session.commit()
    client.sign_in("t.cache", PASSWORD)
    assert client.get("/teacher/").headers["Cache-Control"] == "no-store"


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "could not find" in response.get_data(as_text=True)


def test_htmx_error_is_retargeted_to_the_alert_region(client):
    response = client.get("/no/such/page", headers={"HX-Request": "true"})
    assert response.status_code == 404
    assert response.headers["HX-Retarget"] == "#flash"
    assert "<html" not in response.get_data(as_text=True)


@pytest.mark.settings(TESTING_ERROR_PAGES=True)
def test_server_error_page_hides_the_stack_trace(app, client):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = client.get("/boom")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "secret internals" not in body and "Traceback" not in body
    assert "Nothing was changed" in body


def test_get_never_changes_state_sign_out_needs_post(app, client):
    with app.app_context():
        make_user(Role.TEACHER, school=make_school(), username="t.get")
        db.session.commit()
    client.sign_in("t.get", PASSWORD)
    assert client.get("/sign-out").status_code == 405
    assert client.get("/teacher/").status_code == 200


def test_htmx_dual_mode_render_varies_on_hx_request(app):
    from webapp.web.htmx import render

    with app.test_request_context("/", headers={"HX-Request": "true"}):
        response = render("errors/error.html", "errors/_toast.html", code=200, message="hi")
        assert "<html" not in response.get_data(as_text=True)
        assert "HX-Request" in response.headers["Vary"]
    with app.test_request_context("/", headers={"HX-Request": "true", "HX-Boosted": "true"}):
        response = render("errors/error.html", "errors/_toast.html", code=200, message="hi")
        assert "<html" in response.get_data(as_text=True)
