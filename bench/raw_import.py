"""Whole-process baseline: read a OneRoster folder with csv and insert it with executemany.

Usage: python raw_import.py FOLDER DATABASE

The database is an empty, migrated Keyslip database, so the rows go into Keyslip's own
tables (keys, indexes, foreign keys, triggers) on a connection set up as Keyslip's. It
writes what the in-process baseline writes (schools, users, school memberships, classes,
enrollments, parent links) and prints the counts as JSON. Nothing else: no checks, no
normalising, no history; the bench runs it as a subprocess and times it from start to exit.
"""

from __future__ import annotations

import csv
import json
import secrets
import sqlite3
import sys
from pathlib import Path

STAMP = "2026-01-01 00:00:00.000000"


def rows(folder: Path, name: str):
    with open(folder / name, newline="", encoding="utf-8-sig") as handle:
        yield from csv.DictReader(handle)


def split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def insert_rows(conn: sqlite3.Connection, rows: tuple[list, ...]) -> None:
    """Insert an import's rows with executemany in one transaction: the baselines' only work."""
    schools, users, members, classes, enrollments, links = rows
    with conn:
        conn.executemany(
            "INSERT INTO schools (id, name, source, sourced_id, created_at) VALUES (?,?,?,?,?)",
            schools,
        )
        conn.executemany(
            "INSERT INTO users (id, source, sourced_id, username, role, given_name, family_name, "
            "email, phone, grade, student_number, credential_epoch, must_change_password, "
            "district_wide, failed_login_count, created_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            users,
        )
        conn.executemany("INSERT INTO user_schools VALUES (?,?)", members)
        conn.executemany(
            "INSERT INTO classes (id, school_id, source, sourced_id, title, class_code, grades, "
            "created_at) VALUES (?,?,?,?,?,?,?,?)",
            classes,
        )
        conn.executemany(
            'INSERT INTO enrollments (class_id, user_id, role, "primary", created_at) '
            "VALUES (?,?,?,?,?)",
            enrollments,
        )
        conn.executemany(
            "INSERT INTO guardian_links (parent_id, student_id, origin, created_at) "
            "VALUES (?,?,?,?)",
            links,
        )


def main(folder: Path, database: Path) -> None:
    school_ids, schools = {}, []
    for i, row in enumerate(rows(folder, "orgs.csv"), 1):
        school_ids[row["sourcedId"]] = i
        schools.append((i, row["name"], "sis", row["sourcedId"], STAMP))
    ids, users, members, links = {}, [], [], []
    for i, row in enumerate(rows(folder, "users.csv"), 1):
        ids[row["sourcedId"]] = i
        grades = split(row["grades"])
        users.append(
            (
                i, "sis", row["sourcedId"], row["username"] or row["sourcedId"], row["role"],
                row["givenName"], row["familyName"], row["email"].lower() or None,
                row["phone"] or None, grades[0] if grades else None, row["identifier"] or None,
                secrets.token_hex(16), False, False, 0, STAMP,
            )
        )  # fmt: skip
        members.extend((i, school_ids[s]) for s in split(row["orgSourcedIds"]))
        if row["role"] == "parent":
            links.extend((i, child) for child in split(row["agentSourcedIds"]))
    links = [(parent, ids[child], "roster", STAMP) for parent, child in links]
    class_ids, classes = {}, []
    for i, row in enumerate(rows(folder, "classes.csv"), 1):
        class_ids[row["sourcedId"]] = i
        classes.append(
            (
                i, school_ids[row["schoolSourcedId"]], "sis", row["sourcedId"], row["title"],
                row.get("classCode") or None, ",".join(split(row.get("grades", ""))) or None,
                STAMP,
            )
        )  # fmt: skip
    enrollments = [
        (
            class_ids[row["classSourcedId"]], ids[row["userSourcedId"]], row["role"],
            row["primary"].lower() == "true", STAMP,
        )
        for row in rows(folder, "enrollments.csv")
    ]  # fmt: skip
    conn = sqlite3.connect(database)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    insert_rows(conn, (schools, users, members, classes, enrollments, links))
    conn.close()
    counts = {
        "users": len(users),
        "classes": len(classes),
        "enrollments": len(enrollments),
        "guardian_links": len(links),
    }
    print(json.dumps(counts))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
