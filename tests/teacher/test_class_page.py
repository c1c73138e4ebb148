"""The teacher's class page: roster, resets shown once, PINs, parent codes; only own students."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, select

from tests.factories import PASSWORD, link_guardian, make_class, make_school, make_user
from webapp.extensions import db
from webapp.models import AuditEvent, Enrollment, Role, User
from webapp.services import auth, classroom, settings
from webapp.services.errors import NotAllowed


@pytest.fixture
def school(app) -> dict[str, int]:
    with app.app_context():
        oak = make_school("Oak School")
        teacher = make_user(Role.TEACHER, school=oak, username="t.turing")
        co = make_user(Role.TEACHER, school=oak, username="t.co")
        other = make_user(Role.TEACHER, school=oak, username="t.other")
        young = make_user(Role.STUDENT, school=oak, username="kid.k", given_name="Kit",
                          family_name="Kay", grade="KG", password=None)  # fmt: skip
        older = make_user(Role.STUDENT, school=oak, username="ada.l", given_name="Ada",
                          family_name="Lovelace", grade="05")  # fmt: skip
        stranger = make_user(Role.STUDENT, school=oak, username="not.mine")
        mum = make_user(Role.PARENT, school=oak)
        link_guardian(mum, older)
        mine = make_class(oak, teacher=teacher, students=[young, older], title="Class 1")
        db.session.add(Enrollment(class_id=mine.id, user_id=co.id, role="teacher"))
        theirs = make_class(oak, teacher=other, students=[stranger], title="Class 2")
        db.session.commit()
        return {"class": mine.id, "other_class": theirs.id, "young": young.id,
                "older": older.id, "stranger": stranger.id}  # fmt: skip


def _post(client, path, data=None):
    return client.post_form(path, data or {}, token_from="/teacher/")


def test_sign_in_times_show_on_the_class_schools_clock(app, client, school):
    with app.app_context():
        older = db.session.get(User, school["older"])
        older.last_login_at = datetime(2026, 12, 6, 19, 5, tzinfo=UTC)
        admin = make_user(Role.ADMIN, district_wide=True)
        settings.set("time_zone", "America/Chicago", older.schools[0], admin)
        db.session.commit()
    client.sign_in("t.turing", PASSWORD)
    page = client.get(f"/teacher/classes/{school['class']}").get_data(as_text=True)
    assert "<td>6 Dec 2026 13:05 CST</td>" in page


def test_the_roster_shows_state_sign_in_and_parents_and_filters_by_state(client, school):
    client.sign_in("t.turing", PASSWORD)
    page = client.get(f"/teacher/classes/{school['class']}").get_data(as_text=True)
    assert "Kay, Kit" in page and "Lovelace, Ada" in page and "not.mine" not in page
    assert "none linked" in page  # Kit has no parent yet
    active = client.get(f"/teacher/classes/{school['class']}?state=active").get_data(as_text=True)
    assert "Lovelace, Ada" in active and "Kay, Kit" not in active


def test_a_co_teacher_has_the_same_class_page(client, school):
    client.sign_in("t.co", PASSWORD)
    assert client.get(f"/teacher/classes/{school['class']}").status_code == 200


def test_a_reset_is_shown_once_signs_in_and_young_students_get_kind_words(app, client, school):
    client.sign_in("t.turing", PASSWORD)
    path = f"/teacher/classes/{school['class']}/students/{school['young']}/reset"
    response = _post(client, path)
    assert response.headers["Cache-Control"] == "no-store"
    password = re.search(
        r"Temporary password: <code>([^<]+)</code>", response.get_data(as_text=True)
    )
    assert re.fullmatch(r"[a-z]+-[a-z]+-\d+", password.group(1))  # tiger-moon-42
    with app.app_context():
        result = auth.sign_in("kid.k", password.group(1))
        assert result.user is not None and result.user.must_change_password
        db.session.rollback()
        event = db.session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "credential_issued", AuditEvent.target_id == school["young"]
            )
        )
        assert event.actor_label == "t.turing"


def test_the_pin_is_made_once_then_shown_to_the_class_teacher(client, school):
    client.sign_in("t.turing", PASSWORD)
    path = f"/teacher/classes/{school['class']}/students/{school['older']}/pin"
    first = re.search(r"PIN: <code>([^<]+)</code>", _post(client, path).get_data(as_text=True))
    again = re.search(r"PIN: <code>([^<]+)</code>", _post(client, path).get_data(as_text=True))
    assert first.group(1) == again.group(1)


def test_parent_codes_are_made_for_those_without_and_downloaded_as_csv(app, client, school):
    client.sign_in("t.turing", PASSWORD)
    _post(client, f"/teacher/classes/{school['class']}/parent-codes")
    page = client.get(f"/teacher/classes/{school['class']}").get_data(as_text=True)
    assert "2 new parent codes made." in page
    _post(client, f"/teacher/classes/{school['class']}/parent-codes")
    assert "0 new parent codes made." in client.get(f"/teacher/classes/{school['class']}").get_data(
        as_text=True
    )
    response = client.get(f"/teacher/classes/{school['class']}/parent-codes.csv")
    assert response.headers["Cache-Control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert {r["username"] for r in rows} == {"kid.k", "ada.l"}
    assert all(re.fullmatch(r"[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}", r["parent_code"]) for r in rows)
    assert not any("password" in column for column in rows[0])


@pytest.mark.parametrize("action", ["reset", "pin"])
def test_a_student_of_another_class_is_404_and_nothing_changes(app, client, school, action):
    client.sign_in("t.turing", PASSWORD)
    with app.app_context():
        epoch = db.session.get(User, school["stranger"]).credential_epoch
    for class_id in (school["class"], school["other_class"]):
        path = f"/teacher/classes/{class_id}/students/{school['stranger']}/{action}"
        assert _post(client, path).status_code == 404
    with app.app_context():
        assert db.session.get(User, school["stranger"]).credential_epoch == epoch
    assert client.get(f"/teacher/classes/{school['other_class']}").status_code == 404
    assert (
        client.get(f"/teacher/classes/{school['other_class']}/parent-codes.csv").status_code == 404
    )


def test_a_student_moved_out_of_the_class_is_out_at_once(app, school):
    with app.app_context():
        teacher = db.session.scalar(select(User).where(User.username == "t.turing"))
        db.session.execute(delete(Enrollment).where(Enrollment.user_id == school["older"]))
        db.session.commit()
        with pytest.raises(NotAllowed):
            classroom.reset_passwords(teacher, school["class"], [school["older"]])
        with pytest.raises(NotAllowed):  # a mixed request is refused whole
            classroom.reset_passwords(teacher, school["class"], [school["young"], school["older"]])


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_class_slips_reset_the_chosen_students_and_each_password_signs_in(app, client, school):
    client.sign_in("t.turing", PASSWORD)
    response = _post(client, f"/teacher/classes/{school['class']}/slips",
                     {"student_ids": [str(school["young"]), str(school["older"])],
                      "layout": "single"})  # fmt: skip
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="class-')
    from pypdf import PdfReader

    assert len(PdfReader(io.BytesIO(response.data)).pages) == 2  # one per page
    text = _pdf_text(response.data)
    for username in ("kid.k", "ada.l"):
        assert username in text
    passwords = re.findall(r"\b[a-z]+-[a-z]+-\d+\b", text)  # Kit is young: kind words
    assert passwords
    with app.app_context():
        assert auth.sign_in("kid.k", passwords[0]).user is not None
        db.session.rollback()


def test_everyone_on_paper_saver_fits_one_page_and_others_are_refused(app, client, school):
    client.sign_in("t.turing", PASSWORD)
    response = _post(client, f"/teacher/classes/{school['class']}/slips",
                     {"everyone": "1", "layout": "saver", "per_page": "8"})  # fmt: skip
    from pypdf import PdfReader

    assert len(PdfReader(io.BytesIO(response.data)).pages) == 1
    foreign = _post(client, f"/teacher/classes/{school['class']}/slips",
                    {"student_ids": [str(school["young"]), str(school["stranger"])]})  # fmt: skip
    assert foreign.status_code == 404
    nobody = _post(client, f"/teacher/classes/{school['class']}/slips", {})
    assert nobody.status_code == 303


def test_parent_letters_for_the_class_carry_each_childs_code(client, school):
    client.sign_in("t.turing", PASSWORD)
    response = _post(client, f"/teacher/classes/{school['class']}/letters")
    assert response.headers["Content-Type"] == "application/pdf"
    text = _pdf_text(response.data)
    assert "Kit Kay" in text and "Ada Lovelace" in text
    assert re.search(r"[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}", text)
    assert _post(client, f"/teacher/classes/{school['other_class']}/letters").status_code == 404
