"""Import pages over HTTP: upload, mapping, preview tabs, apply with progress, history, scope."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from tests.factories import PASSWORD
from webapp.extensions import db
from webapp.models import AuditEvent, ImportRun, Setting, User

PEOPLE = (
    "Pupil ID,Forename,Surname,Email,Year\n"
    "1,Ada,Lovelace,ada@example.org,5\n"
    "2,Alan,Turing,alan@example.org,5\n"
    "3,Grace,Hopper,,6\n"
)


def upload(client, data: bytes | str, name: str = "students.csv", **fields):
    payload = data.encode() if isinstance(data, str) else data
    form = {
        "csrf_token": client.csrf_token("/admin/imports/new"),
        "format": "auto",
        "mode": "add-update",
        "username_template": "{first}.{last}",
        "file": (io.BytesIO(payload), name),
        **{k: str(v) for k, v in fields.items()},
    }
    if form.get("complete") in ("False", ""):
        form.pop("complete")
    return client.post("/admin/imports", data=form, content_type="multipart/form-data")


def run_id_from(response) -> int:
    match = re.search(r"/admin/imports/(\d+)", response.headers["Location"])
    assert match, response.headers.get("Location")
    return int(match.group(1))


def save_mapping(client, run_id: int, **overrides: str):
    page = client.get(f"/admin/imports/{run_id}/mapping").get_data(as_text=True)
    chosen = dict(
        re.findall(
            r'name="map-(\w+)">(?:(?!</select>).)*?<option value="([^"]*)" selected', page, re.S
        )
    )
    chosen.update(overrides)
    data = {f"map-{k}": v for k, v in chosen.items()}
    return client.post_form(
        f"/admin/imports/{run_id}/mapping", data, token_from=f"/admin/imports/{run_id}/mapping"
    )


def mapped_run(client, school_id: int, data: str = PEOPLE, **fields) -> int:
    response = upload(client, data, school_id=school_id, **fields)
    assert response.status_code == 303, response.get_data(as_text=True)
    run_id = run_id_from(response)
    assert response.headers["Location"].endswith("/mapping")
    assert save_mapping(client, run_id).status_code == 303
    return run_id


def apply(client, run_id: int, **data):
    return client.post_form(
        f"/admin/imports/{run_id}/apply", data, token_from=f"/admin/imports/{run_id}"
    )


def users(app, role: str = "student") -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).where(User.role == role))


def test_spreadsheet_upload_asks_for_columns_guessed_from_headers(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    response = upload(client, PEOPLE, school_id=world.school_a)
    assert response.status_code == 303 and response.headers["Location"].endswith("/mapping")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert re.search(r'name="map-given_name">.*?<option value="Forename" selected', page, re.S)
    assert re.search(r'name="map-sourced_id">.*?<option value="Pupil ID" selected', page, re.S)


def test_preview_counts_and_tabs_then_apply_creates_people(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    run_id = mapped_run(client, world.school_a)
    page = client.get(f"/admin/imports/{run_id}").get_data(as_text=True)
    assert '<dd data-count="new">3</dd>' in page
    assert "ada.lovelace" in page and users(app) == 0  # previewing changes nothing
    response = apply(client, run_id)
    assert response.status_code == 303
    assert users(app) == 3
    with app.app_context():
        run = db.session.get(ImportRun, run_id)
        assert run.status == "applied" and not run.dry_run and run.upload_key is None
        assert run.counts["new"] == 3
    status = client.get(f"/admin/imports/{run_id}/status", headers={"HX-Request": "true"})
    body = status.get_data(as_text=True)
    assert "<html" not in body and "every 1s" not in body and 'data-count="new">3<' in body


def test_running_import_status_partial_polls(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    with app.app_context():
        run = ImportRun(school_id=world.school_a, source="sis", format="csv", mode="add",
                        dry_run=False, status="running", options={"file_name": "x"})  # fmt: skip
        db.session.add(run)
        db.session.commit()
        run_id = run.id
    response = client.get(f"/admin/imports/{run_id}/status", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in body and "<html" not in body
    assert "HX-Request" in response.headers["Vary"]
    full = client.get(f"/admin/imports/{run_id}").get_data(as_text=True)
    assert "<html" in full and 'hx-trigger="every 1s"' in full
    with app.app_context():
        db.session.get(ImportRun, run_id).stage = "checking"
        db.session.commit()
    body = client.get(f"/admin/imports/{run_id}/status", headers={"HX-Request": "true"})
    body = body.get_data(as_text=True)
    assert 'max="3" value="1"' in body and "Step 2 of 3: Checking it against Keyslip" in body


def test_changed_tab_lists_old_and_new_values(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    apply(client, mapped_run(client, world.school_a))
    edited = PEOPLE.replace("Turing", "Turing-Smith")
    run_id = mapped_run(client, world.school_a, edited)
    tab = client.get(f"/admin/imports/{run_id}?tab=changed", headers={"HX-Request": "true"})
    body = tab.get_data(as_text=True)
    assert "<html" not in body and 'id="preview-tab"' in body
    assert "<del>Turing</del> → <ins>Turing-Smith</ins>" in body


def test_preview_pages_fifty_rows_at_a_time(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    rows = "".join(f"{i},Given{i},Family{i},,5\n" for i in range(1, 121))
    run_id = mapped_run(client, world.school_a, "Pupil ID,Forename,Surname,Email,Year\n" + rows)
    first = client.get(f"/admin/imports/{run_id}?tab=new", headers={"HX-Request": "true"})
    assert first.get_data(as_text=True).count("<tr><td>Given") == 50
    assert "Page 1 of 3" in first.get_data(as_text=True)
    last = client.get(f"/admin/imports/{run_id}?tab=new&page=3", headers={"HX-Request": "true"})
    assert last.get_data(as_text=True).count("<tr><td>Given") == 20


def test_errors_block_applying_unless_the_rest_is_applied_on_purpose(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    run_id = mapped_run(client, world.school_a, PEOPLE + "4,,NoFirstName,,5\n")
    page = client.get(f"/admin/imports/{run_id}?tab=problems").get_data(as_text=True)
    assert "1 row of the file has errors" in page and 'name="skip_errors" required' in page
    assert "students.csv" in page and ">5<" in page  # file and line of the bad row
    response = apply(client, run_id)
    assert response.status_code == 422 and users(app) == 0


def test_safety_valve_needs_the_confirmation_box(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    many = "Pupil ID,Forename,Surname\n" + "".join(f"{i},G{i},F{i}\n" for i in range(20))
    apply(client, mapped_run(client, world.school_a, many, complete="y"))
    few = "Pupil ID,Forename,Surname\n" + "".join(f"{i},G{i},F{i}\n" for i in range(5))
    run_id = mapped_run(client, world.school_a, few, complete="y")
    page = client.get(f"/admin/imports/{run_id}").get_data(as_text=True)
    assert "15 of 20" in page and "75.0%" in page and "confirm_deactivation" in page
    assert apply(client, run_id).status_code == 422
    with app.app_context():
        assert not db.session.scalar(select(func.count()).where(User.deactivated_at.is_not(None)))
    assert apply(client, run_id, confirm_deactivation="y").status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(User.deactivated_at.is_not(None))) == 15


def test_mapping_is_remembered_for_the_school(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    run_id = run_id_from(upload(client, PEOPLE, school_id=world.school_a))
    save_mapping(client, run_id, **{"map-grade": ""} and {"grade": ""})
    second = run_id_from(upload(client, PEOPLE, school_id=world.school_a))
    page = client.get(f"/admin/imports/{second}/mapping").get_data(as_text=True)
    assert "the columns you chose last time" in page
    # The grade column was left out last time, so it stays out although the header matches.
    assert not re.search(r'name="map-grade">.*?<option value="Year" selected', page, re.S)
    with app.app_context():
        assert (
            db.session.scalar(select(Setting.school_id).where(Setting.key == "roster.csv_mapping"))
            == world.school_a
        )


def test_mapping_takes_only_known_fields_and_real_columns(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    run_id = run_id_from(upload(client, PEOPLE, school_id=world.school_a))
    response = client.post_form(
        f"/admin/imports/{run_id}/mapping",
        {"map-sourced_id": "Pupil ID", "map-given_name": "Forename", "map-family_name": "Surname",
         "map-role": "=admin", "map-district_wide": "Email"},
        token_from=f"/admin/imports/{run_id}/mapping",
    )  # fmt: skip
    assert response.status_code == 422  # "=admin" is not an offered role
    response = client.post_form(
        f"/admin/imports/{run_id}/mapping",
        {"map-sourced_id": "Pupil ID", "map-given_name": "Forename", "map-family_name": "Surname",
         "map-role": "=student", "map-district_wide": "Email"},
        token_from=f"/admin/imports/{run_id}/mapping",
    )  # fmt: skip
    assert response.status_code == 303
    with app.app_context():
        mapping = db.session.get(ImportRun, run_id).options["mapping"]
        assert mapping == {"sourced_id": "Pupil ID", "given_name": "Forename",
                           "family_name": "Surname", "role": "=student"}  # fmt: skip


def test_onerooster_zip_goes_straight_to_preview(app, client, world):
    from tests.roster.bundles import school_bundle

    client.sign_in("district", PASSWORD)
    buffer = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in school_bundle(5).files().items():
            archive.writestr(name, data)
    response = upload(client, buffer.getvalue(), name="export.zip")
    assert response.status_code == 303 and not response.headers["Location"].endswith("/mapping")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "oneroster-1.1" in page and 'data-count="new">' in page


def test_another_schools_import_is_404_everywhere_and_audited(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    run_id = mapped_run(client, world.school_a)
    client.post("/sign-out", data={"csrf_token": client.csrf_token("/admin/")})
    other = app.test_client()
    other.sign_in("admin.b", PASSWORD)
    for path in ("", "/status", "/mapping", "/problems.csv"):
        response = other.get(f"/admin/imports/{run_id}{path}")
        assert response.status_code == 404, path
        assert "Ada" not in response.get_data(as_text=True)
    token = other.csrf_token("/admin/imports/new")
    assert (
        other.post(f"/admin/imports/{run_id}/apply", data={"csrf_token": token}).status_code == 404
    )
    assert "students.csv" not in other.get("/admin/imports").get_data(as_text=True)
    assert users(app) == 0
    with app.app_context():
        denied = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "authz_denied")
        ).all()
        assert len(denied) == 5 and {e.details["object_id"] for e in denied} == {run_id}


def test_school_admin_cannot_upload_into_another_school(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    response = upload(client, PEOPLE, school_id=world.school_b)
    assert response.status_code == 422
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ImportRun)) == 0


def test_teacher_cannot_reach_imports(app, client, world):
    client.sign_in("teach.a", PASSWORD)
    assert client.get("/admin/imports").status_code == 404
    assert client.get("/admin/imports/new").status_code == 404


def test_upload_without_csrf_is_refused(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    response = client.post(
        "/admin/imports",
        data={"file": (io.BytesIO(PEOPLE.encode()), "p.csv"), "format": "auto",
              "mode": "add", "username_template": "{first}"},
        content_type="multipart/form-data",
        headers={"HX-Request": "true"},
    )  # fmt: skip
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ImportRun)) == 0


@pytest.mark.settings(MAX_CONTENT_LENGTH=4096)
def test_too_large_upload_says_so(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    response = upload(client, "x" * 10_000)
    assert response.status_code == 413
    assert "larger than the" in response.get_data(as_text=True)


def test_problems_download_is_neutralised_and_never_cached(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    response = upload(client, PEOPLE + "4,,NoFirst,,5\n", name="=HYPERLINK(1)+students.csv",
                      school_id=world.school_a)  # fmt: skip
    run_id = run_id_from(response)
    save_mapping(client, run_id)
    client.get(f"/admin/imports/{run_id}")
    download = client.get(f"/admin/imports/{run_id}/problems.csv")
    assert download.headers["Cache-Control"] == "no-store"
    disposition = download.headers["Content-Disposition"]
    assert disposition == f'attachment; filename="import-{run_id}-problems.csv"'
    text = download.get_data(as_text=True)
    assert text.splitlines()[0] == "severity,file,line,column,message"
    assert "\n=" not in text and ",=" not in text and "'=HYPERLINK(1)+students.csv" in text


def test_history_lists_runs_with_who_and_status(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    apply(client, mapped_run(client, world.school_a))
    page = client.get("/admin/imports").get_data(as_text=True)
    assert "admin.a" in page and "applied" in page and "Alpha School" in page
    partial = client.get("/admin/imports?page=1", headers={"HX-Request": "true"})
    assert "<html" not in partial.get_data(as_text=True)


def test_ambiguous_dates_are_asked_in_the_preview_and_the_answer_previews_again(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    dated = "Pupil ID,Forename,Surname,Leaving Date\n1,Ada,Lovelace,03/04/2001\n2,Alan,Turing,\n"
    run_id = mapped_run(client, world.school_a, dated)
    page = client.get(f"/admin/imports/{run_id}").get_data(as_text=True)
    form = re.search(
        r'<form method="post" action="/admin/imports/\d+/date-order">.*?</form>', page, re.S
    )
    assert form, page
    question = form.group(0)
    assert 'name="csrf_token"' in question
    assert (
        "<fieldset>" in question and "<legend>How is <code>03/04/2001</code> written?" in question
    )
    for order, reading in (("dmy", "3 April 2001"), ("mdy", "4 March 2001")):
        assert f'id="date-order-{order}" name="date_order" value="{order.upper()}"' in question
        assert f'<label for="date-order-{order}">' in question and reading in question
    assert "Apply this import" not in page and '<dd data-count="errors">1</dd>' in page

    unanswered = client.post_form(
        f"/admin/imports/{run_id}/date-order", {}, token_from=f"/admin/imports/{run_id}"
    )
    assert unanswered.status_code == 422
    assert "Choose day/month or month/day." in unanswered.get_data(as_text=True)
    response = client.post_form(
        f"/admin/imports/{run_id}/date-order",
        {"date_order": "DMY"},
        token_from=f"/admin/imports/{run_id}",
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 204
    assert response.headers["HX-Redirect"].endswith(f"/admin/imports/{run_id}")
    page = client.get(f"/admin/imports/{run_id}").get_data(as_text=True)
    assert "could be day/month or month/day" not in page
    assert '<dd data-count="errors">0</dd>' in page and "Apply this import" in page
    assert 'value="DMY" required checked' in page  # the answer shows, and can be changed


def test_upload_form_offers_password_and_send_options_and_the_preview_counts_them(
    app, client, world
):
    client.sign_in("admin.a", PASSWORD)
    page = client.get("/admin/imports/new").get_data(as_text=True)
    assert 'name="passwords"' in page and 'name="send"' in page
    assert '<option selected value="keep">' in page and '<option selected value="none">' in page
    sheet = (
        "Pupil ID,Forename,Surname,Email,Password\n"
        "1,Ada,Lovelace,ada@example.org,violet-harbour-lantern\n"
        "2,Alan,Turing,alan@example.org,\n"
    )
    refused = upload(client, sheet, school_id=world.school_a, passwords="set", send="sms")
    assert refused.status_code == 422 and "never sent by SMS" in refused.get_data(as_text=True)
    run_id = mapped_run(client, world.school_a, sheet, passwords="set", send="email")
    with app.app_context():
        run = db.session.get(ImportRun, run_id)
        assert (run.passwords, run.send) == ("set", "email")
        assert run.options["mapping"]["password"] == "Password"
    preview = client.get(f"/admin/imports/{run_id}").get_data(as_text=True)
    assert 'data-count="file_credentials_new">1<' in preview
    assert 'data-count="credentials_to_generate">1<' in preview
    assert "you hold their passwords" in preview
    assert "violet-harbour-lantern" not in preview


def _writes_during(app, action) -> list[str]:
    """Run action and return every statement it sent that writes to the database."""
    from sqlalchemy import event

    with app.app_context():
        engine = db.engine
    writes: list[str] = []

    def watch(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            writes.append(statement)

    event.listen(engine, "before_cursor_execute", watch)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", watch)
    return writes


def test_a_preview_page_view_writes_nothing(app, client, world):
    from webapp.services import uploads

    client.sign_in("admin.a", PASSWORD)
    run_id = mapped_run(client, world.school_a)
    with app.app_context():
        folder = uploads.upload_dir()
        kept = sorted(p.name for p in folder.iterdir())
        before = db.session.get(ImportRun, run_id)
        state = (before.status, before.counts, before.options, before.row_errors)

    def look() -> None:
        for query in ("?tab=problems", "?tab=changed&page=2", "?tab=problems&severity=error"):
            assert client.get(f"/admin/imports/{run_id}{query}").status_code == 200
        response = client.get(f"/admin/imports/{run_id}")
        assert response.status_code == 200 and "Lovelace" in response.get_data(as_text=True)

    assert _writes_during(app, look) == []
    # A database the kept preview no longer matches: planned again in memory, kept nowhere.
    with app.app_context():
        db.session.get(
            User, db.session.scalar(select(User.id).where(User.role == "admin"))
        ).given_name = "Moved"
        db.session.commit()
    assert _writes_during(app, look) == []
    with app.app_context():
        after = db.session.get(ImportRun, run_id)
        assert (after.status, after.counts, after.options, after.row_errors) == state
        assert sorted(p.name for p in folder.iterdir()) == kept


def test_saving_the_columns_plans_and_keeps_the_preview_for_the_page(app, client, world):
    client.sign_in("admin.a", PASSWORD)
    run_id = mapped_run(client, world.school_a)
    with app.app_context():
        run = db.session.get(ImportRun, run_id)
        assert run.preview_key and run.counts["new"] == 3
