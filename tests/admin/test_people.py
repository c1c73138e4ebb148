"""The People page: search, filters in the URL, scope, selection and bulk actions."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from tests.factories import PASSWORD, link_guardian, make_class, make_school, make_user
from webapp.extensions import db
from webapp.models import AuditEvent, CredentialBatch, Role, User
from webapp.services import people
from webapp.services.people import PeopleFilter, Problem, Selection


@pytest.fixture
def town(app) -> dict[str, int]:
    with app.app_context():
        oak, elm = make_school("Oak School"), make_school("Elm School")
        admin = make_user(Role.ADMIN, school=oak, username="oak.admin")
        make_user(Role.ADMIN, username="district", district_wide=True)
        teacher = make_user(Role.TEACHER, school=oak, username="t.turing", given_name="Alan",
                            family_name="Turing", email="alan@oak.example")  # fmt: skip
        ada = make_user(Role.STUDENT, school=oak, username="ada.l", given_name="Ada",
                        family_name="Lovelace", grade="05", student_number="S100",
                        email="ada@families.example", password=None)  # fmt: skip
        grace = make_user(Role.STUDENT, school=oak, username="grace.h", given_name="Grace",
                          family_name="Hopper", grade="05", password=None)  # fmt: skip
        make_user(Role.STUDENT, school=oak, username="per_cent", given_name="100%",
                  family_name="Sure", grade="06", email="pc@families.example")  # fmt: skip
        mum = make_user(Role.PARENT, school=oak, username="mum.l", given_name="Mary",
                        family_name="Lovelace", email="mary@families.example")  # fmt: skip
        link_guardian(mum, ada)
        klass = make_class(oak, teacher=teacher, students=[ada], title="Maths 5")
        make_user(Role.STUDENT, school=elm, username="elm.kid", given_name="Ada",
                  family_name="Elmsley")  # fmt: skip
        db.session.commit()
        return {"admin": admin.id, "ada": ada.id, "grace": grace.id, "class": klass.id,
                "oak": oak.id, "elm": elm.id}  # fmt: skip


def names(app, town, **filters) -> list[str]:
    with app.app_context():
        actor = db.session.get(User, town["admin"])
        found = people.page(actor, PeopleFilter(**filters))
        return [p.username for p in found.people]


def test_search_matches_each_word_in_names_username_email_or_student_number(app, town):
    assert names(app, town, q="ada") == ["ada.l"]  # not the other school's Ada
    assert names(app, town, q="Ada Lovelace") == ["ada.l"]
    assert names(app, town, q="lovelace") == ["ada.l", "mum.l"]
    assert names(app, town, q="S100") == ["ada.l"]
    assert names(app, town, q="alan@oak") == ["t.turing"]
    assert names(app, town, q="100%") == ["per_cent"]  # % and _ are letters, not wildcards
    assert names(app, town, q="%") == ["per_cent"]
    assert "oak.admin" not in names(app, town)  # admins are not on this page


def test_the_search_index_follows_renames_deletions_and_bulk_inserts(app, town):
    from sqlalchemy import delete, insert, update

    with app.app_context():
        db.session.execute(update(User).where(User.id == town["grace"]).values(
            family_name="Brewster", email="grace@navy.example"))  # fmt: skip
        db.session.execute(insert(User), [
            {"username": "bulk.kid", "given_name": "Ørjan", "family_name": "Østby",
             "role": "student", "source": "sis", "sourced_id": "B1", "credential_epoch": "e"}
        ])  # an import's Core INSERT, as roster imports write  # fmt: skip
        bulk = db.session.scalar(select(User).where(User.username == "bulk.kid"))
        from webapp.models import user_schools

        db.session.execute(insert(user_schools).values(user_id=bulk.id, school_id=town["oak"]))
        db.session.execute(delete(User).where(User.username == "per_cent"))
        db.session.commit()
    assert names(app, town, q="hopper") == []
    assert names(app, town, q="brewster") == ["grace.h"]
    assert names(app, town, q="navy.example") == ["grace.h"]
    assert names(app, town, q="østby") == ["bulk.kid"]  # case folded beyond ASCII
    assert names(app, town, q="ØSTBY") == ["bulk.kid"]
    assert names(app, town, q="100%") == []


def test_short_words_and_quotes_search_too(app, town):
    assert names(app, town, q="ov") == ["ada.l", "mum.l"]  # under three letters: read rows
    assert names(app, town, q='ada"') == []
    assert names(app, town, q='"lovelace"') == []  # quotes are letters here, not syntax
    assert names(app, town, q="ove lac") == ["ada.l", "mum.l"]


def test_filters_choose_by_role_class_grade_state_problem_and_parent(app, town):
    assert names(app, town, role=Role.PARENT) == ["mum.l"]
    assert names(app, town, class_id=town["class"]) == ["ada.l", "t.turing"]
    assert names(app, town, grade="05") == ["grace.h", "ada.l"]
    assert set(names(app, town, state=people.AccountState.NOT_SENT)) == {"ada.l", "grace.h"}
    assert names(app, town, problem=Problem.NO_EMAIL) == ["grace.h"]
    assert names(app, town, parent_linked=True) == ["ada.l"]
    assert set(names(app, town, parent_linked=False)) == {"grace.h", "per_cent"}


def test_last_failed_and_sent_before_read_the_delivery_log(app, town):
    from datetime import date

    from webapp.delivery import batches

    with app.app_context():
        actor = db.session.get(User, town["admin"])
        batches.send_credentials([town["ada"], town["grace"]], "link", "email", {}, actor)
        db.session.commit()
    assert names(app, town, sent_before=date(2999, 1, 1)) == ["ada.l"]
    assert names(app, town, sent_before=date(2000, 1, 1)) == []
    with app.app_context():
        from webapp.models import Delivery

        delivery = db.session.scalar(select(Delivery).where(Delivery.user_id == town["ada"]))
        delivery.status = "failed"
        db.session.commit()
    assert names(app, town, problem=Problem.LAST_FAILED) == ["ada.l"]


def test_a_filter_survives_the_url_round_trip():
    from datetime import date

    view = PeopleFilter(
        q="ada",
        role=Role.STUDENT,
        state=people.AccountState.INVITED,
        problem=Problem.NO_PHONE,
        parent_linked=False,
        sent_before=date(2026, 9, 1),
        sort=people.Sort.STATE,
        descending=True,
    )
    assert PeopleFilter.from_args(view.to_args()) == view
    assert PeopleFilter().to_args() == {}
    assert PeopleFilter.from_args({"role": "wizard", "page": "x", "sent_before": "soon"}) == (
        PeopleFilter()
    )


def test_the_page_searches_as_you_type_and_keeps_filters_in_the_url(client, town):
    client.sign_in("oak.admin", PASSWORD)
    page = client.get("/admin/users?q=lovelace&role=student").get_data(as_text=True)
    assert "Lovelace, Ada" in page and "Lovelace, Mary" not in page
    assert 'value="lovelace"' in page and 'hx-push-url="true"' in page
    partial = client.get("/admin/users?q=grace", headers={"HX-Request": "true"})
    html = partial.get_data(as_text=True)
    assert html.startswith('<section id="people-results"') and "Hopper, Grace" in html
    assert "HX-Request" in partial.headers["Vary"]


def test_pages_keep_the_filters(client, town, monkeypatch):
    monkeypatch.setattr(people, "PER_PAGE", 1)
    client.sign_in("oak.admin", PASSWORD)
    page = client.get("/admin/users?role=student&sort=username").get_data(as_text=True)
    assert "Page 1 of 3" in page and "ada.l" in page
    href = re.search(r'href="([^"]*page=2[^"]*)"', page).group(1).replace("&amp;", "&")
    assert "role=student" in href and "sort=username" in href
    assert "grace.h" in client.get(href).get_data(as_text=True)


def test_counts_on_the_console_link_to_the_matching_people(client, town):
    client.sign_in("oak.admin", PASSWORD)
    home = client.get("/admin/").get_data(as_text=True)
    assert f"/admin/users?role=student&amp;state=not_sent&amp;school_id={town['oak']}" in home


def _bulk(client, action: str, view: dict, ids=(), all_matching=False, path="/admin/users/bulk"):
    data = {"action": action, "view": urlencode(view), "ids": [str(i) for i in ids]}
    if all_matching:
        data["all_matching"] = "1"
    return client.post_form(path, data, token_from="/admin/users")


def test_a_link_by_email_shows_the_plan_then_makes_one_batch(app, client, town):
    client.sign_in("oak.admin", PASSWORD)
    view = {"role": "student", "grade": "05"}
    confirm = _bulk(client, "link_email", view, all_matching=True)
    page = confirm.get_data(as_text=True)
    assert "You selected <strong>2</strong> people (everyone matching your filters)" in page
    assert "<strong>1</strong> will get a link by email" in page
    assert "<strong>1</strong> have no email and can be printed instead" in page
    key = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', page).group(1)
    apply = {"action": "link_email", "view": urlencode(view), "all_matching": "1",
             "idempotency_key": key}  # fmt: skip
    first = client.post_form("/admin/users/bulk/apply", apply, token_from="/admin/users")
    second = client.post_form("/admin/users/bulk/apply", apply, token_from="/admin/users")
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == f"/admin/users/bulk/{key}"
    opened = client.get(first.headers["Location"])
    with app.app_context():
        (batch,) = db.session.scalars(select(CredentialBatch)).all()  # pressed twice: one batch
        assert batch.total == 2 and opened.headers["Location"].endswith(f"/batches/{batch.id}")


def test_explicit_ids_outside_the_school_refuse_the_request_and_outside_the_filter_drop(
    app, client, town
):
    with app.app_context():
        stranger = db.session.scalar(select(User.id).where(User.username == "elm.kid"))
    client.sign_in("oak.admin", PASSWORD)
    refused = _bulk(client, "deactivate", {"role": "student"}, ids=[town["ada"], stranger])
    assert refused.status_code == 404
    refused = _bulk(
        client, "deactivate", {}, ids=[town["ada"], stranger], path="/admin/users/bulk/apply"
    )
    assert refused.status_code == 404
    refused = _bulk(
        client, "link_email", {}, ids=[town["ada"], stranger], path="/admin/users/bulk/apply"
    )
    assert refused.status_code == 404
    with app.app_context():
        assert db.session.get(User, town["ada"]).deactivated_at is None
        assert db.session.scalar(select(CredentialBatch)) is None
    with app.app_context():
        mum_id = db.session.scalar(select(User.id).where(User.username == "mum.l"))
    page = _bulk(client, "deactivate", {"role": "student"}, ids=[town["ada"], mum_id])
    assert "You selected <strong>1</strong> person" in page.get_data(as_text=True)


def test_deactivate_then_reactivate_ends_sessions_and_is_audited(app, client, town):
    with app.app_context():
        epoch = db.session.get(User, town["grace"]).credential_epoch
    client.sign_in("oak.admin", PASSWORD)
    page = _bulk(client, "deactivate", {}, ids=[town["grace"]]).get_data(as_text=True)
    assert "<strong>1</strong> will be deactivated" in page and "signed out at once" in page
    done = _bulk(client, "deactivate", {}, ids=[town["grace"]], path="/admin/users/bulk/apply")
    assert done.status_code == 303
    with app.app_context():
        grace = db.session.get(User, town["grace"])
        assert grace.deactivated_at is not None and grace.credential_epoch != epoch
    assert "1 person deactivated." in client.get("/admin/users").get_data(as_text=True)
    _bulk(client, "reactivate", {}, ids=[town["grace"]], path="/admin/users/bulk/apply")
    with app.app_context():
        assert db.session.get(User, town["grace"]).deactivated_at is None
        actions = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.target_id == town["grace"])
        ).all()
        assert "account_deactivated" in actions and "account_reactivated" in actions


def test_export_of_a_selection_is_a_csv_of_those_people(client, town):
    client.sign_in("oak.admin", PASSWORD)
    response = _bulk(client, "export", {}, ids=[town["ada"], town["grace"]])
    assert response.headers["Content-Disposition"].startswith('attachment; filename="people-')
    body = response.get_data(as_text=True)
    assert "ada.l" in body and "grace.h" in body and "mum.l" not in body


def test_bulk_needs_csrf_an_action_and_a_selection(client, town):
    client.sign_in("oak.admin", PASSWORD)
    assert client.post("/admin/users/bulk", data={"action": "deactivate"}).status_code == 400
    assert _bulk(client, "wizardry", {}, ids=[town["ada"]]).status_code == 400
    nobody = _bulk(client, "deactivate", {})
    assert nobody.status_code == 303


def test_teachers_cannot_open_people(app, client, town):
    client.sign_in("t.turing", PASSWORD)
    assert client.get("/admin/users").status_code in (403, 404)
    assert _bulk(client, "deactivate", {}, ids=[town["ada"]]).status_code in (403, 404)


def test_selection_resolves_under_scope_now(app, town):
    with app.app_context():
        actor = db.session.get(User, town["admin"])
        selection = Selection(PeopleFilter(role=Role.STUDENT), all_matching=True)
        assert len(selection.resolve(actor)) == 3
        make_user(Role.STUDENT, school=db.session.get(User, town["ada"]).schools[0])
        db.session.commit()
        assert len(selection.resolve(actor)) == 4  # resolved when acted on, not when chosen


def test_class_pickers_sort_naturally_and_roles_read_plainly(app, client, town):
    with app.app_context():
        oak = db.session.get(User, town["admin"]).schools[0]
        for title in ("Art 11", "Art 6", "Art 9"):
            make_class(oak, title=title)
        db.session.commit()
    client.sign_in("oak.admin", PASSWORD)
    page = client.get("/admin/users").get_data(as_text=True)
    assert page.index(">Art 6") < page.index(">Art 9") < page.index(">Art 11")
    assert ">Staff<" in page and "Staffs" not in page


def test_the_wait_page_polls_until_the_batch_exists_and_is_only_the_askers(app, client, town):
    client.sign_in("oak.admin", PASSWORD)
    waiting = client.get("/admin/users/bulk/0123456789abcdef")
    assert waiting.status_code == 200
    assert 'hx-trigger="every 1s"' in waiting.get_data(as_text=True)
    with app.app_context():
        from webapp.delivery import batches

        district = db.session.scalar(select(User).where(User.username == "district"))
        batches.send_credentials(
            [town["ada"]], "link", "email", {"idempotency_key": "someone-elses-key"}, district
        )
        db.session.commit()
    assert client.get("/admin/users/bulk/someone-elses-key").status_code == 200  # still waiting


def test_select_all_matching_over_20000_people_loads_none_of_them_in_the_request(
    app, client, town, monkeypatch
):
    """The request queues the filter; the job resolves and plans the 20,000."""
    from sqlalchemy import event, insert

    from webapp.models import user_schools

    with app.app_context():
        rows = [
            {"username": f"bulk{n}", "given_name": "Bulk", "family_name": f"P{n}",
             "role": "student", "grade": "07", "source": "local", "email": f"b{n}@f.example",
             "credential_epoch": f"{n:032d}", "must_change_password": False,
             "district_wide": False, "failed_login_count": 0}
            for n in range(20_000)
        ]  # fmt: skip
        db.session.execute(insert(User), rows)
        new_ids = db.session.scalars(select(User.id).where(User.grade == "07")).all()
        db.session.execute(
            insert(user_schools), [{"user_id": i, "school_id": town["oak"]} for i in new_ids]
        )
        db.session.commit()
        engine = db.engine
    queued: list = []
    backend = app.extensions["keyslip_jobs"]
    monkeypatch.setattr(
        backend, "submit", lambda name, args, origin=None: queued.append((name, args))
    )
    loaded: list[str] = []

    def watch(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().startswith("SELECT users.id, users.source"):
            loaded.append(statement)

    client.sign_in("oak.admin", PASSWORD)
    token = client.csrf_token("/admin/users")
    event.listen(engine, "before_cursor_execute", watch)
    try:
        response = client.post(
            "/admin/users/bulk/apply",
            data={"action": "link_email", "view": "grade=07", "all_matching": "1",
                  "idempotency_key": "bulk-20000-key", "csrf_token": token},
        )  # fmt: skip
    finally:
        event.remove(engine, "before_cursor_execute", watch)
    assert response.status_code == 303
    assert [name for name, _ in queued] == ["webapp.services.people.send_to_selection"]
    ((_, args),) = queued
    assert "grade=07" in args and len(str(args)) < 300  # the filter, not 20,000 ids
    # Only single accounts by id (the signed-in admin); none of the 20,000.
    assert all(re.search(r"WHERE users\.id = \S+$", statement.strip()) for statement in loaded), [
        s.strip()[-80:] for s in loaded
    ]
    with app.app_context():
        assert people.send_to_selection(*args) is not None
        batch = db.session.scalar(select(CredentialBatch))
        assert batch.total == 20_000


def test_missing_contacts_lists_those_without_email_or_phone_and_saves_row_by_row(
    app, client, town
):
    client.sign_in("oak.admin", PASSWORD)
    page = client.get("/admin/users/missing-contacts?role=student").get_data(as_text=True)
    assert "Hopper, Grace" in page and "Lovelace, Ada" in page  # Ada has email but no phone
    assert "elm.kid" not in page
    response = client.post_form(
        f"/admin/users/{town['grace']}/contact",
        {"email": "grace@families.example", "phone": "", "layout": "row"},
        token_from="/admin/users/missing-contacts",
        headers={"HX-Request": "true"},
    )
    row = response.get_data(as_text=True)
    assert row.startswith(f'<form class="card contact-row" id="contact-{town["grace"]}"')
    assert "Saved." in row
    with app.app_context():
        assert db.session.get(User, town["grace"]).email == "grace@families.example"


def test_counting_stops_at_the_cap_and_says_so(app, client, town, monkeypatch):
    monkeypatch.setattr(people, "COUNT_UP_TO", 2)
    client.sign_in("oak.admin", PASSWORD)
    page = client.get("/admin/users?role=student").get_data(as_text=True)
    assert "<strong>2+</strong> people match" in page
    assert "Select all 2+ matching" in page


def test_sent_before_is_a_day_on_the_districts_clock_or_the_chosen_schools(app, town):
    from datetime import UTC, date, datetime

    from webapp.delivery import batches
    from webapp.models import Delivery
    from webapp.services import settings

    with app.app_context():
        actor = db.session.get(User, town["admin"])
        batches.send_credentials([town["ada"]], "link", "email", {}, actor)
        # 20:00 on 6 Dec in the district (UTC) is already 7 Dec in Auckland.
        delivery = db.session.scalar(select(Delivery).where(Delivery.user_id == town["ada"]))
        delivery.sent_at = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)
        settings.set("time_zone", "Pacific/Auckland", actor.schools[0], actor)
        db.session.commit()
    assert names(app, town, sent_before=date(2026, 12, 7)) == ["ada.l"]
    assert names(app, town, sent_before=date(2026, 12, 7), school_id=town["oak"]) == []
    assert names(app, town, sent_before=date(2026, 12, 8), school_id=town["oak"]) == ["ada.l"]


def test_the_page_reads_every_schools_time_zone_once_not_once_a_row(app, client):
    from datetime import UTC, datetime

    from sqlalchemy import event

    from webapp.services import settings

    zones = ["Asia/Tokyo", "America/Chicago", "Europe/Paris", "Australia/Sydney", "UTC"]
    midnight = datetime(2026, 12, 6, tzinfo=UTC)
    with app.app_context():
        admin = make_user(Role.ADMIN, username="district", district_wide=True)
        for n, zone in enumerate(zones):
            school = make_school(f"School {n}")
            settings.set("time_zone", zone, school, admin)
            for m in range(10):
                make_user(Role.STUDENT, school=school, username=f"s{n}.{m}", password=None,
                          family_name=f"F{n}{m}", last_login_at=midnight)  # fmt: skip
        db.session.commit()
        engine = db.engine
    client.sign_in("district", PASSWORD)
    reads: list[str] = []

    def watch(conn, cursor, statement, params, context, executemany):
        if "FROM settings" in statement:
            reads.append(statement)

    event.listen(engine, "before_cursor_execute", watch)
    try:
        page = client.get("/admin/users").get_data(as_text=True)
    finally:
        event.remove(engine, "before_cursor_execute", watch)
    assert page.count("<td>6 Dec 2026 09:00 JST</td>") == 10
    assert page.count("<td>5 Dec 2026 18:00 CST</td>") == 10
    assert len(reads) == 1, reads
