"""Drop-folder sync: each drop is a run, files move to processed/, stops and failures alert."""

from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.factories import PASSWORD, make_school, make_user
from tests.roster.bundles import school_bundle
from webapp.extensions import db, mail
from webapp.imports import sync as drop_sync
from webapp.models import ImportRun, Role, User

PEOPLE = "ID,First Name,Last Name\n1,Ada,Lovelace\n2,Alan,Turing\n"
pytestmark = pytest.mark.settings(ROSTER_DROP_SETTLE_SECONDS=0)


@pytest.fixture
def school(app) -> int:
    with app.app_context():
        school = make_school("Oak School")
        make_user(Role.ADMIN, username="district", district_wide=True, email="d@example.org")
        make_user(Role.ADMIN, username="oak.admin", school=school, email="oak@example.org")
        db.session.commit()
        return school.id


def drop(app, folder: str, name: str, data: bytes | str) -> Path:
    with app.app_context():
        target = drop_sync.drop_dir() / folder
    target.mkdir(exist_ok=True)
    path = target / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def sync(app):
    with app.app_context():
        return drop_sync.sync_drop_folders()


def runs(app) -> list[ImportRun]:
    with app.app_context():
        return list(db.session.scalars(select(ImportRun).order_by(ImportRun.id)))


def test_dropped_csv_is_imported_and_moved_to_processed(app, school):
    path = drop(app, str(school), "students.csv", PEOPLE)
    [outcome] = sync(app)
    assert outcome.status == "applied"
    assert not path.exists() and len(list((path.parent / "processed").iterdir())) == 1
    [run] = runs(app)
    assert run.origin == f"sync:{school}" and run.source == f"csv:{school}"
    assert run.school_id == school and run.counts["new"] == 2
    assert sync(app) == []  # nothing left to import


def test_the_same_export_dropped_again_is_skipped(app, school):
    earlier = time.time() - 100
    path = drop(app, str(school), "students.csv", PEOPLE)
    os.utime(path, (earlier, earlier))
    [first] = sync(app)
    assert first.status == "applied"
    # Dropped again later: a file time must not make the bundle look different.
    drop(app, str(school), "students.csv", PEOPLE)
    [outcome] = sync(app)
    assert outcome.status == "skipped"
    assert [r.status for r in runs(app)] == ["applied", "skipped"]


@pytest.mark.settings(ROSTER_DROP_SETTLE_SECONDS=3600)
def test_files_still_arriving_wait_for_the_next_sync(app, school):
    path = drop(app, str(school), "students.csv", PEOPLE)
    assert sync(app) == [] and path.exists()


def test_folders_that_name_no_school_are_left_alone(app, school):
    path = drop(app, "9999", "students.csv", PEOPLE)
    other = drop(app, "not-a-school", "students.csv", PEOPLE)
    assert sync(app) == [] and path.exists() and other.exists()


def test_safety_valve_stop_is_emailed_shown_and_can_be_confirmed(app, school, client):
    drop(app, "district", "day1.zip", zipped(school_bundle(50).files()))
    assert [o.status for o in sync(app)] == ["applied"]
    cut = school_bundle(50)
    cut.users = cut.users[:20]
    drop(app, "district", "day2.zip", zipped(cut.files()))
    with mail.record_messages() as outbox:
        [outcome] = sync(app)
    assert outcome.status == "needs_confirmation"
    with app.app_context():
        assert not db.session.scalar(select(func.count()).where(User.deactivated_at.is_not(None)))
    [message] = outbox
    assert "stopped" in message.subject and message.recipients == ["d@example.org"]
    assert f"/admin/imports/{outcome.run_id}" in message.body
    client.sign_in("district", PASSWORD)
    home = client.get("/admin/").get_data(as_text=True)
    assert 'id="import-alerts"' in home and "day2.zip" in home
    response = client.post_form(
        f"/admin/imports/{outcome.run_id}/apply",
        {"confirm_deactivation": "y"},
        token_from=f"/admin/imports/{outcome.run_id}",
    )
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(User.deactivated_at.is_not(None)))


def test_failed_sync_is_emailed_to_the_schools_admins(app, school):
    drop(app, str(school), "broken.csv", "Colour,Shape\nred,round\n")
    with mail.record_messages() as outbox:
        [outcome] = sync(app)
    assert outcome.status == "failed"
    [message] = outbox
    assert message.recipients == ["oak@example.org"] and "failed" in message.subject
    assert "Oak School" in message.subject and "\n" not in message.subject


def test_sync_command_exits_non_zero_on_failure(app, school):
    drop(app, str(school), "broken.csv", "Colour,Shape\nred,round\n")
    result = app.test_cli_runner().invoke(args=["roster", "sync"])
    assert result.exit_code == 1 and "failed" in result.output


def test_the_housekeeping_job_syncs_and_purges_uploads(app, school):
    import os
    import time

    from webapp.jobs import REGISTRY, periodic
    from webapp.services import uploads

    drop(app, str(school), "students.csv", PEOPLE)
    with app.app_context():
        stale = uploads.store_upload("old.csv", b"x")
        past = time.time() - 48 * 3600
        os.utime(uploads.upload_dir() / f"{stale}.bin", (past, past))
        done = REGISTRY[periodic.HOUSEKEEPING_JOB]()
        assert done["roster syncs"] == 1 and done["roster uploads"] == 1
        with pytest.raises(uploads.UploadMissing):
            uploads.load_upload(stale)
    assert [r.status for r in runs(app)] == ["applied"]


def test_a_remembered_mapping_that_no_longer_fits_stops_the_sync(app, school):
    from webapp.models import Setting

    with app.app_context():
        mapping = {"sourced_id": "ID", "given_name": "First Name", "family_name": "Last Name"}
        headers = ["ID", "First Name", "Last Name"]
        db.session.add(
            Setting(
                school_id=school,
                key="roster.csv_mapping",
                value={"mapping": mapping, "headers": headers},
            )
        )
        db.session.commit()
    drop(app, str(school), "students.csv", "ID,First Name,Last Name,Status\n1,Ada,Lovelace,left\n")
    [outcome] = sync(app)
    assert outcome.status == "failed"
    [run] = runs(app)
    assert "columns the last one did not: Status" in run.row_errors[0]["message"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(User.role != Role.ADMIN)) == 0


def test_a_run_stopped_at_the_safety_valve_keeps_its_preview_for_the_page(
    app, school, client, monkeypatch
):
    drop(app, "district", "day1.zip", zipped(school_bundle(50).files()))
    sync(app)
    cut = school_bundle(50)
    cut.users = cut.users[:20]
    drop(app, "district", "day2.zip", zipped(cut.files()))
    [outcome] = sync(app)
    assert outcome.status == "needs_confirmation"
    with app.app_context():
        assert db.session.get(ImportRun, outcome.run_id).preview_key

    def no_planning(*args, **kwargs):
        raise AssertionError("the page planned instead of reading the kept preview")

    from webapp.imports import preview

    monkeypatch.setattr(preview, "build_plan", no_planning)
    client.sign_in("district", PASSWORD)
    page = client.get(f"/admin/imports/{outcome.run_id}?tab=leaving")
    assert page.status_code == 200 and "I confirm these removals" in page.get_data(as_text=True)
