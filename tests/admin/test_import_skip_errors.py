"""Apply the rest over HTTP and the CLI; the problems tab lists errors first and filters."""

from __future__ import annotations

from sqlalchemy import func, select

from tests.admin.test_imports import apply, mapped_run
from tests.factories import PASSWORD
from webapp.extensions import db
from webapp.models import ImportRun, Role, User

BROKEN = (
    "Pupil ID,Forename,Surname,Email,Year\n"
    "1,Ada,Lovelace,not-an-address,5\n"
    "2,,Turing,alan@example.org,5\n"
    "3,Grace,Hopper,,6\n"
)


def students(app) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(select(User.given_name).where(User.role == Role.STUDENT)))


def test_the_preview_offers_apply_the_rest_and_applying_without_it_is_refused(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    run_id = mapped_run(client, world.school_a, BROKEN)
    page = client.get(f"/admin/imports/{run_id}").get_data(as_text=True)
    assert '<dd data-count="new">2</dd>' in page  # counts shown despite the error
    assert 'name="skip_errors"' in page and "1 row of the file has errors" in page
    refused = apply(client, run_id)
    assert refused.status_code == 422 and students(app) == []


def test_apply_the_rest_imports_everyone_but_the_row_in_error(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    run_id = mapped_run(client, world.school_a, BROKEN)
    response = apply(client, run_id, skip_errors="y")
    assert response.status_code == 303, response.get_data(as_text=True)
    assert students(app) == ["Ada", "Grace"]
    with app.app_context():
        run = db.session.get(ImportRun, run_id)
        assert run.status == "applied" and run.counts["held_back_rows"] == 1
        assert run.skip_errors is True
    problems = client.get(f"/admin/imports/{run_id}/problems.csv").get_data(as_text=True)
    lines = problems.splitlines()
    assert lines[1].startswith("error,students.csv,3,Forename")  # errors first
    assert any(line.startswith("warning,students.csv,2,Email") for line in lines)


def test_the_problems_tab_filters_by_severity(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    run_id = mapped_run(client, world.school_a, BROKEN)
    tab = client.get(
        f"/admin/imports/{run_id}?tab=problems&severity=warning", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert "not-an-address" in tab or "Email" in tab
    assert "the row was skipped" not in tab
    errors = client.get(
        f"/admin/imports/{run_id}?tab=problems&severity=error", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert "the row was skipped" in errors and "<html" not in errors


def test_the_cli_applies_the_rest_with_skip_errors(app, world, tmp_path):
    path = tmp_path / "students.csv"
    path.write_text(BROKEN)
    runner = app.test_cli_runner()
    args = ["roster", "import", str(path), "--school", str(world.school_a), "--as", "district"]
    refused = runner.invoke(args=args)
    assert refused.exit_code == 1 and "--skip-errors" in refused.output
    result = runner.invoke(args=[*args, "--skip-errors"])
    assert result.exit_code == 0, result.output
    assert "Held back: 1 rows in error" in result.output and "held back" in result.output
    assert students(app) == ["Ada", "Grace"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ImportRun)) == 2
