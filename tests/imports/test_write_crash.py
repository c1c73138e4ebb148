"""An import killed half-way leaves the database exactly as it was (a real kill -9)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from sqlalchemy import func, select

from tests.factories import make_user
from webapp.extensions import db
from webapp.models import ImportRun, Role, User

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from sqlalchemy import event
    from tests.roster.bundles import school_bundle
    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import User
    from webapp.roster import read_roster
    from webapp.imports.plan import ImportOptions
    from webapp.imports.planner import plan_import
    from webapp.imports.write import apply_plan

    app = create_app({{"ENVIRONMENT": "testing", "SECRET_KEY": "x",
                      "SQLALCHEMY_DATABASE_URI": {url!r}, "JOBS_BACKEND": "inline"}})
    with app.app_context():
        statements = 0

        @event.listens_for(db.engine, "before_cursor_execute")
        def count(conn, cursor, statement, *args):
            global statements
            if statement.lstrip().upper().startswith("INSERT"):
                statements += 1
                if statements == {kill_after}:
                    os.kill(os.getpid(), signal.SIGKILL)

        actor = db.session.get(User, {admin_id})
        plan = plan_import(read_roster(school_bundle(200).files()),
                           ImportOptions(source="sis"), actor=actor)
        apply_plan(plan, actor=actor)
        db.session.commit()
        print("finished")
    """
)


def run_import(url: str, admin_id: int, kill_after: int) -> subprocess.CompletedProcess:
    script = SCRIPT.format(root=str(ROOT), url=url, admin_id=admin_id, kill_after=kill_after)
    env = {**os.environ, "KEYSLIP_INSTANCE_PATH": os.environ["KEYSLIP_INSTANCE_PATH"]}
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )


def snapshot() -> tuple[int, int]:
    return (
        db.session.scalar(select(func.count(User.id))),
        db.session.scalar(select(func.count(ImportRun.id))),
    )


def test_kill_minus_9_during_apply_changes_nothing_and_a_rerun_completes(app):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    with app.app_context():
        admin_id = make_user(Role.ADMIN, username="district", district_wide=True).id
        db.session.commit()
        before = snapshot()
        db.session.remove()
    # The third INSERT: people and their schools are written, classes and links are not.
    killed = run_import(url, admin_id, kill_after=3)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    with app.app_context():
        assert snapshot() == before
        db.session.remove()
    done = run_import(url, admin_id, kill_after=10**9)
    assert done.returncode == 0, done.stderr
    with app.app_context():
        users, runs = snapshot()
        assert users == before[0] + 200 + 200 + 20 and runs == 1
