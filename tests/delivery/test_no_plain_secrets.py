"""No plain secret (link, token, password, code) in the database, logs, audit or job payloads."""

from __future__ import annotations

import json
import logging
import re

import pytest
from sqlalchemy import inspect, text

from tests.delivery.conftest import make_district
from webapp.delivery import batches, sms
from webapp.extensions import db, mail
from webapp.imports import jobs, mapping, preview, runs
from webapp.models import AuditEvent, ImportRun, User

CODE = re.compile(r"[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}")
URL = re.compile(r"https://keyslip\.test/set-password/([A-Za-z0-9_-]{43})")
TEMP = re.compile(r"Temporary password: (\S+)")


def _secrets_in(body: str) -> set[str]:
    found: set[str] = set()
    for match in URL.finditer(body):
        found |= {match.group(0), match.group(1)}
    for match in CODE.finditer(body):
        found |= {match.group(0), match.group(0).replace("-", "")}
    for match in TEMP.finditer(body):
        found.add(match.group(1))
    return found


def database_dump() -> list[str]:
    """Every stored value of every table, as text (bytes decoded byte for byte)."""
    dump: list[str] = []
    for table in inspect(db.engine).get_table_names():
        for row in db.session.execute(text(f'SELECT * FROM "{table}"')):
            for value in row:
                if isinstance(value, bytes | bytearray | memoryview):
                    dump.append(bytes(value).decode("latin-1"))
                elif value is not None:
                    dump.append(str(value))
    return dump


@pytest.mark.settings(SMS_BACKEND="outbox", SMS_DAILY_CAP_PER_NUMBER=10)
def test_a_full_round_of_batches_leaves_no_plain_secret_anywhere(app, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    submitted: list[tuple[str, tuple]] = []
    backend = app.extensions["keyslip_jobs"]
    original = backend.submit
    monkeypatch.setattr(
        backend,
        "submit",
        lambda name, args, origin=None: (
            submitted.append((name, args)) or original(name, args, origin)
        ),
    )
    district = make_district(app, 3, phone="+15125550123")
    plan = [
        ("link", "email"),
        ("password", "email"),
        ("parent-code", "email"),
        ("link", "sms"),
        ("parent-code", "sms"),
    ]
    with mail.record_messages() as outbox, app.app_context():
        actor = db.session.get(User, district.admin_id)
        for kind, channel in plan:
            batches.send_credentials(
                district.student_ids,
                kind,
                channel,
                {"include_active": True, "sent_before": None},
                actor,
            )
            db.session.commit()

    bodies = [m.body for m in outbox] + [m.html for m in outbox]
    bodies += [m.body for m in sms.outbox(app)]
    text_all = "\n".join(bodies)
    tokens = {m.group(1) for m in URL.finditer(text_all)}
    passwords = {m.group(1) for m in TEMP.finditer(text_all)}
    codes = {m.group(0) for m in CODE.finditer(text_all)}
    # 3 links by email and 3 by SMS; 3 passwords; 3 codes by email and 3 by SMS.
    assert (len(tokens), len(passwords), len(codes)) == (6, 3, 6)
    secrets = set().union(*(_secrets_in(body) for body in bodies))

    with app.app_context():
        dump = database_dump()
        details = [json.dumps(e.details) for e in db.session.scalars(db.select(AuditEvent))]
    haystacks = {"database": "\n".join(dump), "logs": caplog.text, "audit": "\n".join(details)}
    for where, haystack in haystacks.items():
        leaked = [s for s in secrets if s in haystack]
        assert not leaked, f"plain secrets in {where}: {leaked[:3]}"

    assert [name for name, _ in submitted] == ["webapp.delivery.jobs.process_batch"] * 5
    assert all(isinstance(arg, int) for _, args in submitted for arg in args)


FILE_PASSWORDS = ("violet-harbour-lantern", "quiet-meadow-kettle-9", "amber-falcon-rivers-31")


def test_an_import_with_a_password_column_leaves_no_plain_password_anywhere(
    app, caplog, monkeypatch
):
    from tests.factories import make_school, make_user
    from webapp.models import Role

    caplog.set_level(logging.DEBUG)
    submitted: list[tuple[str, tuple]] = []
    backend = app.extensions["keyslip_jobs"]
    original = backend.submit
    monkeypatch.setattr(
        backend,
        "submit",
        lambda name, args, origin=None: (
            submitted.append((name, args)) or original(name, args, origin)
        ),
    )
    with app.app_context():
        school = make_school("Maple Grove Elementary")
        admin = make_user(Role.ADMIN, school=school, username="office.admin")
        make_user(Role.STUDENT, school=school, source=f"csv:{school.id}", sourced_id="3",
                  given_name="Grace", family_name="Hopper")  # fmt: skip
        db.session.commit()
        school_id, admin_id = school.id, admin.id
    sheet = (
        "ID,First Name,Last Name,Role,Email,Password\n"
        f"1,Ada,Lovelace,student,ada@home.example,{FILE_PASSWORDS[0]}\n"
        f"2,Mum,Lovelace,parent,mum@home.example,{FILE_PASSWORDS[1]}\n"
        f"3,Grace,Hopper,student,grace@home.example,{FILE_PASSWORDS[2]}\n"
        "4,Alan,Turing,student,alan@home.example,\n"
        "5,Wes,Kell,student,wes@home.example,zq7x\n"
    )
    with mail.record_messages() as outbox, app.app_context():
        actor = db.session.get(User, admin_id)
        request = runs.ImportRequest(school_id=school_id, passwords="set", send="email")
        run = runs.start_import("people.csv", sheet.encode(), request, actor=actor)
        run.options = {**run.options, "mapping": mapping.mapping_choice(run).mapping}
        preview.refresh(run, actor=actor)  # the weak one blocks: an error row
        assert run.counts["errors"] == 1
        db.session.commit()
        weak_run = run.id
        run = runs.start_import(
            "people.csv", sheet.rsplit("5,", 1)[0].encode(), request, actor=actor
        )
        run.options = {**run.options, "mapping": mapping.mapping_choice(run).mapping}
        preview.refresh(run, actor=actor)
        jobs.request_apply(run, actor=actor, confirm=False)
        db.session.commit()
    # Only Alan, whose password was blank, is sent one (generated at send time).
    assert sorted(r for m in outbox for r in m.recipients) == ["alan@home.example"]
    emailed = {m.group(1) for m in TEMP.finditer("\n".join(m.body for m in outbox))}
    assert len(emailed) == 1
    secrets = {*FILE_PASSWORDS, "zq7x", *emailed}

    with app.app_context():
        dump = database_dump()
        details = [json.dumps(e.details) for e in db.session.scalars(db.select(AuditEvent))]
        stored = [
            json.dumps([r.counts, r.row_errors, r.options], default=str)
            for r in db.session.scalars(db.select(ImportRun))
        ]
        assert len(stored) == 2 and weak_run
    haystacks = {
        "database": "\n".join(dump),
        "logs": caplog.text,
        "audit": "\n".join(details),
        "import runs": "\n".join(stored),
        "job payloads": repr(submitted),
    }
    for where, haystack in haystacks.items():
        leaked = [s for s in secrets if s in haystack]
        assert not leaked, f"plain passwords in {where}: {leaked[:3]}"
    assert all(isinstance(arg, int) for _, args in submitted for arg in args)
