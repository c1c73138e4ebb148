"""`flask credentials print` and `flask credentials print-letters`."""

from __future__ import annotations

import stat

import pytest

from tests.factories import make_school, make_user
from tests.printing.conftest import SINGLE_SLIP, awaiting_batch, pdf_pages, slips_in
from webapp.extensions import db
from webapp.models import CredentialBatch, Role


def _run(app, *args):
    return app.test_cli_runner().invoke(args=["credentials", *args])


def test_print_writes_the_batch_pdf_owner_only_and_finishes_the_batch(app, office, tmp_path):
    batch_id = awaiting_batch(app, office)
    out = tmp_path / "slips.pdf"
    result = _run(app, "print", str(batch_id), "--as", "office.admin", "--per-page", "12",
                  "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"Batch {batch_id}: 3 printed to {out}" in result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert len(slips_in(out.read_bytes())) == 3
    with app.app_context():
        assert db.session.get(CredentialBatch, batch_id).status == "done"


def test_print_one_per_page(app, office, tmp_path):
    batch_id = awaiting_batch(app, office)
    out = tmp_path / "letters.pdf"
    result = _run(app, "print", str(batch_id), "--as", "office.admin", "--layout", "single",
                  "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(pdf_pages(out.read_bytes())) == 3
    assert len(slips_in(out.read_bytes(), SINGLE_SLIP)) == 3


def test_print_refuses_an_existing_file_and_changes_nothing(app, office, tmp_path):
    batch_id = awaiting_batch(app, office)
    out = tmp_path / "taken.pdf"
    out.write_bytes(b"keep me")
    result = _run(app, "print", str(batch_id), "--as", "office.admin", "--out", str(out))
    assert result.exit_code != 0
    assert "already exists" in result.output
    assert out.read_bytes() == b"keep me"
    with app.app_context():
        assert db.session.get(CredentialBatch, batch_id).status == "awaiting_print"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["print", "999", "--as", "office.admin"], "No such batch: 999."),
        (["print", "BATCH", "--as", "nobody"], "--as must name an active admin"),
        (["print", "BATCH", "--as", "office.admin", "--layout", "poster"], "Invalid value"),
        (["print", "BATCH", "--as", "office.admin", "--per-page", "9"], "Invalid value"),
        (["print", "BATCH", "--as", "other.admin"], "No such batch"),
    ],
)
def test_print_says_clearly_what_is_wrong(app, office, tmp_path, args, message):
    batch_id = awaiting_batch(app, office)
    with app.app_context():
        make_user(Role.ADMIN, school=make_school(), username="other.admin")
        db.session.commit()
    args = [str(batch_id) if a == "BATCH" else a for a in args]
    result = _run(app, *args, "--out", str(tmp_path / "x.pdf"))
    assert result.exit_code != 0
    assert message in result.output
    assert not (tmp_path / "x.pdf").exists()


def test_print_of_a_printed_batch_says_nothing_is_left(app, office, tmp_path):
    batch_id = awaiting_batch(app, office)
    _run(app, "print", str(batch_id), "--as", "office.admin", "--out", str(tmp_path / "a.pdf"))
    result = _run(app, "print", str(batch_id), "--as", "office.admin",
                  "--out", str(tmp_path / "b.pdf"))  # fmt: skip
    assert result.exit_code != 0
    assert "nothing left to print" in result.output


def test_print_letters_for_a_class_a_grade_and_a_school(app, office, tmp_path):
    for n, choice in enumerate(
        (
            ["--class", str(office.class_id)],
            ["--school", str(office.school_id), "--grade", "05"],
            ["--school", str(office.school_id)],
        )  # fmt: skip
    ):
        out = tmp_path / f"letters{n}.pdf"
        result = _run(app, "print-letters", "--as", "office.admin", *choice, "--out", str(out))
        assert result.exit_code == 0, result.output
        assert "3 parent letter(s) for Maple Grove Elementary" in result.output
        assert len(pdf_pages(out.read_bytes())) == 3


@pytest.mark.parametrize(
    ("choice", "message"),
    [
        ([], "Say whose parents"),
        (["--grade", "05"], "--grade needs --school"),
        (["--class", "1", "--school", "1"], "Give --class alone"),
        (["--school", "999"], "No such school 999 among your schools."),
        (["--class", "999"], "No such class 999 among your schools."),
    ],
)
def test_print_letters_says_clearly_what_is_wrong(app, office, tmp_path, choice, message):
    out = tmp_path / "x.pdf"
    result = _run(app, "print-letters", "--as", "office.admin", *choice, "--out", str(out))
    assert result.exit_code != 0
    assert message in result.output
    assert not out.exists()
