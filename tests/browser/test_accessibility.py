"""axe-core finds no serious or critical accessibility problem on the main pages."""

from __future__ import annotations

from pathlib import Path

import pytest

from webapp.extensions import db
from webapp.services import demo

pytestmark = pytest.mark.browser

AXE = (
    Path(__file__).resolve().parents[2]
    / ".cache"
    / "axe"
    / "node_modules"
    / "axe-core"
    / "axe.min.js"
)

PAGES = [
    (None, "/sign-in"),
    ("admin", "/admin/"),
    ("admin", "/admin/users/3"),
    ("admin", "/admin/schools"),
    ("admin", "/admin/imports/new"),
    ("demo.teacher", "/teacher/"),
    ("admin", "/admin/imports"),
    ("admin", "/admin/users"),
    ("admin", "/admin/users/missing-contacts"),
    ("admin", "/admin/users/new"),
    ("admin", "/admin/users?role=student&state=not_sent"),
    ("admin", "/admin/batches"),
    ("admin", "/admin/audit"),
    ("admin", "/admin/settings"),
    ("admin", "/admin/exports/accounts"),
    ("admin", "/admin/print/reports"),
    ("admin", "/admin/batches/1"),
    ("demo.parent", "/parent"),
    ("demo.student", "/account"),
    ("demo.student", "/password/change"),
    (None, "/forgot-password"),
    (None, "/forgot-password/pin"),
    (None, "/parent/register"),
]


def violations(page) -> list[str]:
    page.add_script_tag(content=AXE.read_text())
    result = page.evaluate(
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'best-practice']}))"
        ".violations.filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))"
    )
    return result


def _a_batch_awaiting_print() -> None:
    from sqlalchemy import select

    from webapp.delivery import batches
    from webapp.models import Role, User

    admin = db.session.scalar(select(User).where(User.username == "admin"))
    students = db.session.scalars(select(User.id).where(User.role == Role.STUDENT).limit(5))
    batches.send_credentials(list(students), "password", "print", {}, admin)
    db.session.commit()


PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_main_pages_have_no_serious_accessibility_violations(app, live_server, browser, viewport):
    """axe finds nothing serious, and at phone width no page scrolls sideways."""
    assert AXE.exists(), "make test installs axe-core into .cache/axe"
    with app.app_context():
        demo.seed_demo(2026)
        db.session.commit()
        _a_batch_awaiting_print()
    found = {}
    for username, path in PAGES:
        # axe is injected as a script, which the page's CSP would block: bypass it for the check.
        context = browser.new_context(bypass_csp=True, viewport=viewport)
        page = context.new_page()
        if username:
            page.goto(live_server + "/sign-in")
            page.get_by_label("Username or email").fill(username)
            page.get_by_label("Password").fill(demo.DEMO_PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_load_state()
        page.goto(live_server + path)
        problems = violations(page)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > viewport["width"] + 1:
            problems.append(f"the page is {width}px wide: nothing may push it past the screen")
        if problems:
            found[path] = problems
        context.close()
    assert found == {}
