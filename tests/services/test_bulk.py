"""Bulk writes for batch jobs: ids of inserted rows, and commits that keep the connection."""

from __future__ import annotations

from sqlalchemy import create_engine, delete, select

from webapp.extensions import db
from webapp.models import School, utcnow
from webapp.models.bulk import BulkWrite, commit_in_place

SCHOOLS = BulkWrite(School.__table__, ("name", "source", "sourced_id", "created_at"))


def _rows(*names: str) -> list[tuple]:
    now = utcnow()
    return [(name, "bulk", name.lower(), now) for name in names]


def test_insert_ids_are_the_new_rows_ids_in_order(app):
    with app.app_context():
        first = SCHOOLS.insert_ids(_rows("Ash", "Birch", "Cedar"))
        # The table's last row gone: SQLite hands its id out again, still in order.
        db.session.execute(delete(School).where(School.id == first[-1]))
        second = SCHOOLS.insert_ids(_rows("Dogwood", "Elm"))
        db.session.commit()
        by_id = dict(db.session.execute(select(School.id, School.name)).all())
        assert [by_id.get(i) for i in first[:2]] == ["Ash", "Birch"]
        assert [by_id[i] for i in second] == ["Dogwood", "Elm"]
        assert SCHOOLS.insert_ids([]) == []


def test_commit_in_place_commits_everything_so_far_and_the_session_carries_on(app):
    with app.app_context():
        db.session.add(School(name="Flushed first"))  # pending ORM change
        SCHOOLS(_rows("Written"))
        commit_in_place()
        other = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
        try:
            with other.connect() as conn:
                seen = set(conn.scalars(select(School.name)))
            assert {"Flushed first", "Written"} <= seen  # committed, for everyone
            SCHOOLS(_rows("Undone"))
            db.session.rollback()  # undoes only what came after
            with other.connect() as conn:
                names = set(conn.scalars(select(School.name)))
        finally:
            other.dispose()
        assert {"Flushed first", "Written"} <= names
        assert "Undone" not in names
        commit_in_place()  # nothing begun: nothing to do
