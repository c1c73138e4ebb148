"""Security headers, request ids, server-side sessions and session lifetimes."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request, session, url_for
from flask_login import current_user, login_user, logout_user
from flask_session.base import ServerSideSessionInterface
from sqlalchemy import delete, insert, select, update

from webapp.extensions import db
from webapp.models import SessionRecord, utcnow
from webapp.services.audit import Origin, current_origin
from webapp.web import htmx


def same_site_path(target: str) -> str | None:
    """Return target when it is a path on this site, else None (callers then go home).

    Browsers drop tabs and newlines inside a URL and read a backslash as a slash, so a path
    such as "/<tab>/evil.example" leads off-site: any control or space character and any
    backslash refuse the target outright, as does a scheme, a host or a leading "//".
    """
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


class DatabaseSessionInterface(ServerSideSessionInterface):
    """Flask-Session's database store, on its own connection and our migrated table.

    Keeping the session store off `db.session` means saving a session can never commit
    work that a view chose not to commit.
    """

    def __init__(self, app: Flask) -> None:
        super().__init__(
            app,
            key_prefix="session:",
            use_signer=False,
            permanent=True,
            sid_length=32,
            serialization_format="msgpack",
            cleanup_n_requests=None,
        )

    # Every request reads its session and most write it back: plain Core statements on a
    # connection of their own, without an ORM session per request.
    def _retrieve_session_data(self, store_id: str) -> dict[str, Any] | None:
        table = SessionRecord.__table__
        with db.engine.connect() as conn:
            row = conn.execute(
                select(table.c.data, table.c.expiry).where(table.c.session_id == store_id)
            ).first()
        if row is None or row.expiry <= utcnow():
            return None
        return self.serializer.decode(row.data)

    def _delete_session(self, store_id: str) -> None:
        table = SessionRecord.__table__
        with db.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.session_id == store_id))

    def _upsert_session(self, session_lifetime: timedelta, session: Any, store_id: str) -> None:
        table = SessionRecord.__table__
        values = {"data": self.serializer.encode(session), "expiry": utcnow() + session_lifetime}
        with db.engine.begin() as conn:
            changed = conn.execute(
                update(table).where(table.c.session_id == store_id).values(**values)
            ).rowcount
            if not changed:
                conn.execute(insert(table).values(session_id=store_id, **values))


def session_interface(app: Flask) -> ServerSideSessionInterface:
    if app.config["SESSION_BACKEND"] == "redis":
        # Imported only here: redis costs a tenth of a second at every start, CLI included.
        from flask_session.redis import RedisSessionInterface
        from redis import Redis

        return RedisSessionInterface(
            app,
            client=Redis.from_url(app.config["REDIS_URL"]),
            key_prefix="keyslip:session:",
            use_signer=False,
            permanent=True,
            sid_length=32,
            serialization_format="msgpack",
        )
    return DatabaseSessionInterface(app)


def sign_in_afresh(user: Any) -> None:
    """Sign this person in on a new session id, so a planted cookie is worthless; every
    sign-in (password, link, badge, registration, a changed password) comes through here."""
    session.clear()
    now = utcnow().timestamp()
    session["auth_at"] = now
    session["seen_at"] = now
    # regenerate() only acts on a non-empty session, so it comes after the keys are set.
    current_app.session_interface.regenerate(session)
    login_user(user)


def _session_expired() -> str | None:
    now = utcnow().timestamp()
    cfg = current_app.config
    auth_at = session.get("auth_at", 0)
    seen_at = session.get("seen_at", 0)
    if now - auth_at > cfg["SESSION_ABSOLUTE_HOURS"] * 3600:
        return "Your session has ended after the maximum time. Please sign in again."
    if now - seen_at > cfg["SESSION_IDLE_MINUTES"] * 60:
        return "You were signed out after a period of inactivity. Please sign in again."
    return None


# Endpoints a person who must change a temporary password may still reach.
_CHANGE_ALLOWED = {"auth.change_password", "auth.sign_out", "static"}


def register(app: Flask) -> None:
    @app.before_request
    def set_origin() -> None:
        g.request_id = str(uuid.uuid4())
        current_origin.set(Origin(ip=request.remote_addr, request_id=g.request_id))

    @app.before_request
    def check_session() -> Response | None:
        if request.endpoint == "static" or not current_user.is_authenticated:
            return None
        reason = _session_expired()
        if reason:
            logout_user()
            session.clear()
            session["flash_after_signout"] = reason
            return htmx.redirect(url_for("auth.sign_in"))
        now = utcnow().timestamp()
        # A minute's precision is enough for the idle limit and spares a write per request.
        if now - session.get("seen_at", 0) >= 60:
            session["seen_at"] = now
        # A young student signed in by badge is not asked to type a new password.
        forced = current_user.must_change_password and not session.get("signed_in_by_badge")
        if forced and request.endpoint not in _CHANGE_ALLOWED:
            return htmx.redirect(url_for("auth.change_password"))
        return None

    @app.after_request
    def security_headers(response: Response) -> Response:
        cfg = app.config
        scripts = "'self'"
        if cfg["HTMX_USE_CDN"]:
            # The pinned file itself, not every script the CDN serves.
            scripts += f" {cfg['HTMX_CDN_URL']}"
        response.headers.setdefault(
            "Content-Security-Policy",
            f"default-src 'self'; script-src {scripts}; style-src 'self'; img-src 'self' data:; "
            "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if cfg["ENVIRONMENT"] == "production":
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        if current_user and current_user.is_authenticated:
            # Signed-in pages carry names and credentials; never let a shared device cache them.
            response.headers.setdefault("Cache-Control", "no-store")
        return response
