"""Take the README screenshots: each demo sign-in's home page, in Debian's Chromium.

Run with `make screenshots`; it uses a throwaway database, never instance/keyslip.db.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.services import demo  # noqa: E402

SHOTS = [
    ("sign-in", None, "/sign-in"),
    ("admin-console", "admin", "/admin/"),
    ("teacher-classes", "demo.teacher", "/teacher/"),
    ("teacher-class", "demo.teacher", None),
    ("parent-children", "demo.parent", "/parent"),
    ("student-account", "demo.student", "/account"),
    ("admin-import-new", "admin", "/admin/imports/new"),
    ("admin-export", "admin", "/admin/exports/accounts"),
    ("dev-outbox", None, "/dev/outbox"),
]


def _send_demo_links() -> None:
    """Send links to a Grade 3 class's parents, so the outbox has something to show."""
    from sqlalchemy import select

    from webapp.delivery.batches import send_credentials
    from webapp.models import Class, Enrollment, GuardianLink, User

    admin = db.session.scalar(select(User).where(User.username == "admin"))
    klass = db.session.scalar(select(Class).where(Class.class_code == "HR-03A"))
    parents = db.session.scalars(
        select(GuardianLink.parent_id)
        .join(Enrollment, Enrollment.user_id == GuardianLink.student_id)
        .where(Enrollment.class_id == klass.id)
    ).all()
    send_credentials(
        sorted(set(parents))[:8],
        "link",
        "email",
        {"idempotency_key": "screenshots-0001", "only_never_sent": True},
        admin,
    )
    db.session.commit()


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="keyslip-shots-"))
    os.environ["KEYSLIP_INSTANCE_PATH"] = str(folder)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'shots.db'}",
            "ENVIRONMENT": "development",
            "MAIL_SERVER": None,
            "HTMX_USE_CDN": False,
            "JOBS_BACKEND": "inline",
        }
    )
    with app.app_context():
        upgrade()
        demo.seed_demo(app.config["DEMO_SEED"])
        db.session.commit()
        _send_demo_links()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    out = ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for name, username, path in SHOTS:
            context = browser.new_context(viewport={"width": 1200, "height": 800})
            page = context.new_page()
            if username:
                page.goto(base + "/sign-in")
                page.get_by_label("Username or email").fill(username)
                page.get_by_label("Password").fill(demo.DEMO_PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_load_state()
            if path:
                page.goto(base + path)
            else:
                page.get_by_role("link").filter(has_text="Homeroom").first.click()
                page.wait_for_load_state()
            page.screenshot(path=str(out / f"{name}.png"), full_page=False)
            context.close()
            print(f"docs/screenshots/{name}.png")
        browser.close()
    server.shutdown()


if __name__ == "__main__":
    main()
