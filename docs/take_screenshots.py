"""Take the README screenshots: each demo sign-in's home page and the import pages, in Chromium.

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
    ("forgot-password", None, "/forgot-password"),
    ("admin-import-new", "admin", "/admin/imports/new"),
    ("admin-export", "admin", "/admin/exports/accounts"),
    ("admin-schools", "admin", "/admin/schools"),
    ("dev-outbox", "admin", "/dev/outbox"),
    ("admin-people", "admin", "/admin/users?role=parent"),
    ("admin-person", "admin", "/admin/users/3"),
    ("admin-batch", "admin", "/admin/batches/1"),
    ("admin-audit", "admin", "/admin/audit"),
    ("admin-settings", "admin", "/admin/settings"),
]
PHONE_SHOTS = [
    ("phone-people", "admin", "/admin/users?role=student"),
    ("phone-teacher-class", "demo.teacher", None),
]

# A German SIS export without a header row, in Latin-1, with one row missing a first name.
HEADERLESS = "\r\n".join(
    [
        "90001;Jörg;Müller;4;joerg.mueller@familie.example",
        "90002;Anaïs;Dupré;4;",
        "90003;;Nameless;5;",
        "90004;Zoë;Brontë;5;zoe@home.example",
    ]
).encode("latin-1")
SHEETS = {
    "students.csv": "Student ID,First Name,Last Name,Grade\n70001,Maya,Okafor,3\n70002,Leo,Nakamura,3\n",
    "parents.csv": "Parent ID,First Name,Last Name,Email,Child ID,Relationship\n"
    "80001,Ada,Okafor,ada@home.example,70001,Mother\n",
    "classes.csv": "Class ID,Title,Teacher ID\nC-3B,Homeroom 3B,\n",
}


def _upload(page, base: str, path: Path, *, headerless: bool = False) -> None:
    page.goto(base + "/admin/imports/new")
    page.get_by_label("Roster file (.csv or .zip)").set_input_files(str(path))
    page.get_by_label("School").select_option(label="Maple Grove Elementary")
    if headerless:
        page.get_by_label("The first row is data").check()
    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_load_state()


def _import_flows(browser, base: str, out: Path, folder: Path) -> None:
    """The import pages that need an upload first: mapping, preview, several files."""
    import zipfile

    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    _sign_in(page, base, "admin")
    sheet = folder / "export.csv"
    sheet.write_bytes(HEADERLESS)
    _upload(page, base, sheet, headerless=True)
    page.screenshot(path=str(out / "admin-import-mapping.png"), full_page=True)
    print("docs/screenshots/admin-import-mapping.png")
    for field, column in (("ID", "1"), ("First name", "2"), ("Last name", "3"), ("Email", "5")):
        page.get_by_label(field, exact=True).select_option(f"Column {column}")
    page.get_by_label("Grade").select_option("Column 4")
    page.get_by_label("Role").select_option("=student")
    page.get_by_role("button", name="Save columns and preview").click()
    page.wait_for_load_state()
    page.screenshot(path=str(out / "admin-import-preview.png"), full_page=True)
    print("docs/screenshots/admin-import-preview.png")
    bundle = folder / "sis-export.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        for name, text in SHEETS.items():
            archive.writestr(name, text)
    _upload(page, base, bundle)
    page.screenshot(path=str(out / "admin-import-files.png"), full_page=True)
    print("docs/screenshots/admin-import-files.png")
    context.close()


def _sign_in(page, base: str, username: str) -> None:
    page.goto(base + "/sign-in")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


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


def _give_demo_student_a_parent_code() -> None:
    """The student's account page then shows a code, its expiry and its uses."""
    from sqlalchemy import select

    from webapp.delivery import codes
    from webapp.models import User

    student = db.session.scalar(select(User).where(User.username == "demo.student"))
    codes.issue_parent_code(student, actor=student)
    db.session.commit()


def _sample_pdfs(out: Path) -> None:
    """Page one of each printed document, as PNG (pdftoppm), from the throwaway demo."""
    import subprocess

    from sqlalchemy import select

    from webapp.models import Class, User
    from webapp.printing import letters, reports
    from webapp.printing.slips import Layout, SlipOptions
    from webapp.services import classroom, settings
    from webapp.services.exports import ExportFilter

    admin = db.session.scalar(select(User).where(User.username == "admin"))
    teacher = db.session.scalar(select(User).where(User.username == "demo.teacher"))
    klass = db.session.scalar(select(Class).where(Class.class_code == "HR-03A"))
    settings.set("badge_grades", ["01", "02", "03"], klass.school, admin)
    ids = classroom.active_student_ids(teacher, klass.id)
    documents = {
        "pdf-slips-saver": classroom.print_reset_slips(
            teacher, klass.id, ids, SlipOptions(Layout.SAVER, 10), with_badges=True
        ),
        "pdf-slip-single": classroom.print_reset_slips(
            teacher, klass.id, ids[:1], SlipOptions(Layout.SINGLE)
        ),
        "pdf-parent-letter": letters.print_letters(admin, class_id=klass.id)[1],
        "pdf-report-students": reports.print_report(
            admin, reports.ReportKind.STUDENT_INFO, ExportFilter(class_id=klass.id)
        )[1],
    }
    db.session.commit()
    for name, pdf in documents.items():
        source = out / f"{name}.pdf"
        source.write_bytes(pdf)
        subprocess.run(
            ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile",
             str(source), str(out / name)],
            check=True,
        )  # fmt: skip
        source.unlink()
        print(f"docs/screenshots/{name}.png")


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
        _give_demo_student_a_parent_code()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    out = ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        shots = [(s, {"width": 1200, "height": 800}) for s in SHOTS]
        shots += [(s, {"width": 390, "height": 844}) for s in PHONE_SHOTS]
        for (name, username, path), viewport in shots:
            context = browser.new_context(viewport=viewport)
            page = context.new_page()
            if username:
                _sign_in(page, base, username)
            if path:
                page.goto(base + path)
            else:
                page.get_by_role("link").filter(has_text="Homeroom").first.click()
                page.wait_for_load_state()
            page.screenshot(path=str(out / f"{name}.png"), full_page=False)
            context.close()
            print(f"docs/screenshots/{name}.png")
        _import_flows(browser, base, out, folder)
        browser.close()
    server.shutdown()
    with app.app_context():
        _sample_pdfs(out)


if __name__ == "__main__":
    main()
