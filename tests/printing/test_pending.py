"""Large prints: a job, an encrypted PDF for its one download, deleted then or after 24 h."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from tests.delivery.test_no_plain_secrets import database_dump
from tests.printing.conftest import awaiting_batch, slips_in
from webapp.extensions import db
from webapp.models import AuditEvent, CredentialBatch, User, utcnow
from webapp.printing import flow, pending
from webapp.printing.slips import Layout, SlipOptions
from webapp.services.errors import PolicyError

pytestmark = pytest.mark.settings(PRINT_JOB_THRESHOLD=2)


def _queue(app, office) -> str:
    batch_id = awaiting_batch(app, office)
    with app.app_context():
        actor = db.session.get(User, office.admin_id)
        record = flow.start_print_job(batch_id, actor, SlipOptions(Layout.SAVER, 12))
        db.session.commit()  # the inline backend runs the job here
        return record.id


def _files(app) -> list[Path]:
    return sorted(p for p in Path(app.instance_path).rglob("*") if p.is_file())


def test_a_large_print_runs_as_a_job_and_waits_encrypted(app, office):
    print_id = _queue(app, office)
    with app.app_context():
        record = pending.load(print_id)
        assert record.state is pending.PrintState.READY and record.people == 3
        sealed = pending._pdf_path(print_id).read_bytes()
        assert not sealed.startswith(b"%PDF")
        assert db.session.scalar(select(CredentialBatch)).status == "done"


def test_only_the_requester_downloads_it_once_and_then_it_is_gone(app, office):
    print_id = _queue(app, office)
    with app.app_context():
        admin = db.session.get(User, office.admin_id)
        from tests.factories import make_user
        from webapp.models import Role

        colleague = make_user(Role.ADMIN, schools=admin.schools, username="colleague")
        with pytest.raises(pending.PendingMissing):
            pending.take_pdf(print_id, colleague)
        _, pdf = pending.take_pdf(print_id, admin)
        assert len(slips_in(pdf)) == 3
        assert not pending._pdf_path(print_id).exists()
        assert not pending._meta_path(print_id).exists()
        with pytest.raises(pending.PendingMissing):
            pending.take_pdf(print_id, admin)


def test_no_plain_password_in_the_database_logs_or_on_disk_after_a_print(app, office, caplog):
    caplog.set_level(logging.DEBUG)
    print_id = _queue(app, office)
    with app.app_context():
        files = {p: p.read_bytes() for p in _files(app)}
        dump = "\n".join(database_dump())
        details = [json.dumps(e.details) for e in db.session.scalars(select(AuditEvent))]
        _, pdf = pending.take_pdf(print_id, db.session.get(User, office.admin_id))
    passwords = [s["password"] for s in slips_in(pdf)]
    assert len(passwords) == 3
    # PDF text is compressed, so also make sure no readable PDF was left on disk: the only
    # copy is the sealed one.
    assert not [path for path, data in files.items() if data.startswith(b"%PDF")]
    assert [p.name for p in files if p.parent.name == "print-pending"] == [
        f"{print_id}.json",
        f"{print_id}.pdf.enc",
    ]
    for password in passwords:
        assert password not in dump and password not in caplog.text
        assert password not in "\n".join(details)
        for path, data in files.items():
            assert password.encode() not in data, path


def test_a_failed_job_changes_nothing_and_says_so(app, office, monkeypatch):
    from webapp.printing import render

    def broken(*args, **kwargs):
        raise OSError("out of memory")

    monkeypatch.setattr(render, "render_chunks", broken)
    print_id = _queue(app, office)
    with app.app_context():
        record = pending.load(print_id)
        assert record.state is pending.PrintState.FAILED
        assert not pending._pdf_path(print_id).exists()
        assert db.session.scalar(select(CredentialBatch)).status == "awaiting_print"


def test_purge_deletes_pending_prints_older_than_24_hours(app, office):
    print_id = _queue(app, office)
    with app.app_context():
        assert pending.purge_pending_pdfs() == 0
        with time_machine.travel(utcnow() + timedelta(hours=23), tick=False):
            assert pending.purge_pending_pdfs() == 0
            assert pending._pdf_path(print_id).exists()
        with time_machine.travel(utcnow() + timedelta(hours=24, seconds=1), tick=False):
            assert pending.purge_pending_pdfs() == 1
        assert not pending._pdf_path(print_id).exists()
        assert not pending._meta_path(print_id).exists()


def test_purge_deletes_a_sealed_pdf_without_its_record(app):
    with app.app_context():
        orphan = pending.pending_dir() / f"{'a' * 32}.pdf.enc"
        orphan.write_bytes(b"sealed")
        assert pending.purge_pending_pdfs() == 1
        assert not orphan.exists()


def test_asking_again_while_it_renders_returns_the_same_print(app, office, monkeypatch):
    from webapp.jobs import InlineBackend

    monkeypatch.setattr(InlineBackend, "submit", lambda self, name, args, origin=None: None)
    batch_id = awaiting_batch(app, office)
    with app.app_context():
        actor = db.session.get(User, office.admin_id)
        first = flow.start_print_job(batch_id, actor)
        db.session.commit()
        assert flow.start_print_job(batch_id, actor).id == first.id
        from tests.factories import make_user
        from webapp.models import Role

        colleague = make_user(Role.ADMIN, schools=actor.schools, username="colleague")
        with pytest.raises(PolicyError, match="Someone else is printing"):
            flow.start_print_job(batch_id, colleague)
