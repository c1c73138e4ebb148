"""Keyslip: get a working login into the hands of every student, parent and teacher."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, Response, redirect, url_for
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from webapp.config import Config
from webapp.extensions import csrf, db, limiter, login_manager, mail, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the app: config, extensions, blueprints and CLI."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("KEYSLIP_INSTANCE_PATH", str(ROOT / "instance")),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_object(Config)
    app.config.from_prefixed_env("FLASK")
    app.config.update(overrides or {})
    _finish_config(app)
    if app.config["PROXY_COUNT"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Host is never trusted from a proxy: links are built from BASE_URL.
        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)  # type: ignore[method-assign]

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    mail.init_app(app)
    limiter.init_app(app)
    _init_login(app)

    from webapp import jobs
    from webapp.web import access_log, errors, security

    jobs.init_app(app)
    import webapp.delivery.jobs  # noqa: F401  (registers the jobs: workers look them up)
    import webapp.housekeeping  # noqa: F401
    import webapp.imports.jobs  # noqa: F401
    import webapp.jobs.system  # noqa: F401
    import webapp.services.people  # noqa: F401
    from webapp.jobs import periodic

    periodic.start(app)

    app.session_interface = security.session_interface(app)
    security.register(app)
    access_log.install_dev_server_filter()
    errors.register(app)
    _register_blueprints(app)
    _register_template_helpers(app)

    from webapp.delivery import quota

    quota.init_app(app)
    _check_time_zone(app)

    from webapp import cli

    cli.register(app)
    return app


def _finish_config(app: Flask) -> None:
    cfg = app.config
    env = cfg["ENVIRONMENT"]
    if env not in {"development", "production", "testing"}:
        raise RuntimeError(f"FLASK_ENVIRONMENT must be development, production or testing: {env!r}")
    cfg["TESTING"] = env == "testing" or cfg.get("TESTING", False)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not cfg.get("SECRET_KEY"):
        if env == "production":
            raise RuntimeError(
                "FLASK_SECRET_KEY is not set. Production needs a long random secret key, "
                "for example: python -c 'import secrets; print(secrets.token_urlsafe(64))'"
            )
        cfg["SECRET_KEY"] = _instance_secret(Path(app.instance_path) / "secret_key")
    if not cfg.get("SQLALCHEMY_DATABASE_URI"):
        cfg["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{Path(app.instance_path) / 'keyslip.db'}"
    if cfg["REDIS_URL"] and cfg["RATELIMIT_STORAGE_URI"] == "memory://":
        # Limits must hold across every worker process.
        cfg["RATELIMIT_STORAGE_URI"] = cfg["REDIS_URL"]
    if env == "production":
        cfg["SESSION_COOKIE_SECURE"] = True
        cfg["SESSION_COOKIE_NAME"] = "__Host-keyslip_session"
        cfg["PREFERRED_URL_SCHEME"] = "https"
    if cfg["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        cfg["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 30}}


def _instance_secret(path: Path) -> str:
    """Read the development secret key, creating it once."""
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Safe with WAL: a crash loses no committed data; only power loss may drop the last.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def _init_login(app: Flask) -> None:
    from webapp.models import User

    login_manager.init_app(app)
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = "Please sign in to continue."
    login_manager.session_protection = "basic"

    @login_manager.unauthorized_handler
    def unauthorized() -> Response:
        from flask import redirect, request, url_for

        from webapp.web.htmx import is_htmx

        if is_htmx():
            # A login form swapped into a div would be useless: send the whole page there.
            response = Response("", 401)
            response.headers["HX-Redirect"] = url_for("auth.sign_in")
            return response
        return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))

    @login_manager.user_loader
    def load_user(session_id: str) -> User | None:
        user_id, _, epoch = session_id.partition(":")
        if not user_id.isdigit() or not epoch:
            return None
        user = db.session.scalar(select(User).where(User.id == int(user_id)))
        # A rotated epoch (password change, reset, deactivation) ends this session.
        if user is None or user.credential_epoch != epoch or not user.is_active:
            return None
        return user


def _register_blueprints(app: Flask) -> None:
    from webapp.admin import bp as admin_bp
    from webapp.auth import bp as auth_bp
    from webapp.delivery.views import bp as delivery_bp
    from webapp.delivery.views import dev_bp
    from webapp.printing.views import bp as printing_bp
    from webapp.self_service import bp as self_service_bp
    from webapp.teacher import bp as teacher_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(teacher_bp, url_prefix="/teacher")
    app.register_blueprint(self_service_bp)
    app.register_blueprint(delivery_bp)
    app.register_blueprint(printing_bp, url_prefix="/admin")
    # The outbox shows live links: it exists only in development without a mail server.
    if app.config["ENVIRONMENT"] == "development" and not app.config.get("MAIL_SERVER"):
        app.register_blueprint(dev_bp)

    @app.get("/favicon.ico")
    def favicon() -> Any:
        # Browsers ask for this path whatever the page says; answer instead of logging 404s.
        return redirect(url_for("static", filename="favicon.svg"), 301)


def _check_time_zone(app: Flask) -> None:
    """Refuse to start with a time zone that does not exist, rather than fail on a page."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(app.config["TIME_ZONE"])
    except (ZoneInfoNotFoundError, ValueError):
        raise RuntimeError(
            f"TIME_ZONE (FLASK_TIME_ZONE) is not a time zone name such as "
            f"America/New_York or Europe/London: {app.config['TIME_ZONE']!r}"
        ) from None


def _register_template_helpers(app: Flask) -> None:
    from flask_login import current_user

    from webapp.models import Role
    from webapp.web.labels import grade_label, when, zone_name

    app.add_template_filter(grade_label, "grade")
    app.add_template_filter(when, "when")
    app.add_template_global(zone_name, "zone_name")

    @app.context_processor
    def globals_for_templates() -> dict[str, Any]:
        return {"Role": Role, "current_user": current_user}
