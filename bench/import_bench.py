"""Roster import of a 50,000-person OneRoster bundle against raw sqlite3 executemany.

In process (read, plan and apply against inserting prepared rows) and as whole processes
(`flask roster import FOLDER` from start to exit against a script that reads the same CSVs
with the csv module and inserts them with executemany). `--whole-process` runs only the
second.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from common import finish, make_app, report
from raw_import import insert_rows

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.roster.bundles import district_bundle  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"students": 30_000, "parents": 18_000, "teachers": 2_000, "classes": 2_000}


def _people_rows(files: dict[str, bytes]):
    """The rows an import of the bundle writes, as plain tuples (built before any timing)."""
    from webapp.models.base import new_epoch
    from webapp.roster import read_roster

    roster = read_roster(files)
    stamp = "2026-01-01 00:00:00.000000"
    school_ids = {s.sourced_id: i for i, s in enumerate(roster.schools, 1)}
    schools = [
        (i, s.name, "sis", s.sourced_id, stamp)
        for s, i in zip(roster.schools, school_ids.values(), strict=True)
    ]
    ids = {p.sourced_id: i for i, p in enumerate(roster.people, 1)}
    users = [
        (
            i, "sis", p.sourced_id, p.username or p.sourced_id, str(p.role), p.given_name,
            p.family_name, p.email.lower() if p.email else None, p.phone, p.grade,
            p.student_number, new_epoch(), False, False, 0, stamp,
        )
        for i, p in enumerate(roster.people, 1)
    ]  # fmt: skip
    members = [(ids[p.sourced_id], school_ids[s]) for p in roster.people for s in p.school_ids]
    class_ids = {c.sourced_id: i for i, c in enumerate(roster.classes, 1)}
    classes = [
        (i, school_ids[c.school_id], "sis", c.sourced_id, c.title, c.class_code,
         ",".join(c.grades) or None, stamp)
        for c, i in zip(roster.classes, class_ids.values(), strict=True)
    ]  # fmt: skip
    enrollments = [
        (class_ids[e.class_id], ids[e.user_id], e.role, e.primary, stamp)
        for e in roster.enrollments
    ]
    links = [(ids[g.parent_id], ids[g.student_id], "roster", stamp) for g in roster.guardians]
    return schools, users, members, classes, enrollments, links


def _keyslip_ddl() -> list[str]:
    """Keyslip's own CREATE statements (tables, keys, indexes, the search index and its
    triggers) for the tables an import fills."""
    app = make_app()
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    # users_search: the people search index (FTS5), which triggers on users keep up to date.
    names = ("schools", "users", "users_search", "user_schools", "classes", "enrollments",
             "guardian_links")  # fmt: skip
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute(
            f"SELECT type, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL "  # noqa: S608
            f"AND tbl_name IN ({','.join('?' * len(names))})",
            names,
        ).fetchall()
    order = {name: i for i, name in enumerate(names)}
    rows.sort(key=lambda r: (r[0] != "table", order[r[1]]))
    return [sql for _, _, sql in rows]


SIMPLE_DDL = [
    """CREATE TABLE schools (id INTEGER PRIMARY KEY, name TEXT, source TEXT, sourced_id TEXT,
       created_at TEXT)""",
    """CREATE TABLE users (id INTEGER PRIMARY KEY, source TEXT, sourced_id TEXT,
       username TEXT UNIQUE, role TEXT, given_name TEXT, family_name TEXT, email TEXT,
       phone TEXT, grade TEXT, student_number TEXT, credential_epoch TEXT,
       must_change_password BOOLEAN, district_wide BOOLEAN, failed_login_count INTEGER,
       created_at TEXT, UNIQUE (source, sourced_id))""",
    """CREATE TABLE user_schools (user_id INTEGER, school_id INTEGER,
       PRIMARY KEY (user_id, school_id))""",
    """CREATE TABLE classes (id INTEGER PRIMARY KEY, school_id INTEGER, source TEXT,
       sourced_id TEXT, title TEXT, class_code TEXT, grades TEXT, created_at TEXT,
       UNIQUE (source, sourced_id))""",
    """CREATE TABLE enrollments (id INTEGER PRIMARY KEY, class_id INTEGER, user_id INTEGER,
       role TEXT, "primary" BOOLEAN, created_at TEXT, UNIQUE (class_id, user_id))""",
    """CREATE TABLE guardian_links (id INTEGER PRIMARY KEY, parent_id INTEGER,
       student_id INTEGER, origin TEXT, created_at TEXT, UNIQUE (parent_id, student_id))""",
]


def raw_baseline(rows, ddl: list[str]) -> float:
    """Insert the rows with sqlite3.executemany into tables made by `ddl`, nothing else.

    The connection is set up as Keyslip sets up its own (WAL, synchronous=NORMAL, foreign
    keys on), so the figure is the database's share of an import and nothing more.
    """
    path = Path(tempfile.mkdtemp()) / "raw.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    for statement in ddl:
        conn.execute(statement)
    conn.commit()
    gc.collect()
    start = time.perf_counter()
    insert_rows(conn, rows)
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def keyslip_import(app, files: dict[str, bytes]) -> tuple[float, dict[str, int]]:
    """Read, plan and apply in full, as the layer under every entry point does."""
    from webapp.extensions import db
    from webapp.imports.plan import ImportOptions
    from webapp.imports.planner import plan_import
    from webapp.imports.write import apply_plan
    from webapp.models import User
    from webapp.roster import read_roster

    with app.app_context():
        actor = db.session.get(User, 1)
        start = time.perf_counter()
        roster = read_roster(files)
        plan = plan_import(
            roster, ImportOptions(source="sis", confirm_deactivation=True), actor=actor
        )
        assert not plan.errors, plan.errors[:3]
        apply_plan(plan, actor=actor)
        db.session.commit()
        elapsed = time.perf_counter() - start
        return elapsed, plan.counts()


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def service_import(app, data: bytes) -> tuple[float, str]:
    """Import a zip the way `flask roster import` and the drop-folder sync do."""
    from webapp.extensions import db
    from webapp.imports import fingerprint, jobs, runs
    from webapp.models import User

    with app.app_context():
        actor = db.session.get(User, 1)
        start = time.perf_counter()
        run = runs.start_import(
            "export.zip", data, runs.ImportRequest(), actor=actor, origin="bench"
        )
        if fingerprint.unchanged_since_last_apply(run):
            jobs.skip_run(run)
            outcome = "skipped"
        else:
            plan = runs.build_plan(run, actor=actor, confirm=True)
            assert not plan.errors, plan.errors[:3]
            run.start()
            jobs.finish_apply(run, plan, actor=actor)
            outcome = "applied"
        db.session.commit()
        return time.perf_counter() - start, outcome


def fresh_app():
    """A migrated app on its own SQLite file, with one district-wide admin."""
    from tests.factories import make_user
    from webapp.extensions import db
    from webapp.models import Role

    app = make_app()
    with app.app_context():
        make_user(Role.ADMIN, username="bench.admin", district_wide=True, password=None)
        db.session.commit()
    return app


@dataclass
class Process:
    """One timed run of a command, from start to exit."""

    seconds: float
    cpu_seconds: float
    peak_mb: float
    output: str


def timed_process(args: list[str], env: dict[str, str]) -> Process:
    """Run a command to its exit, timing it and reading its own resource use."""
    with tempfile.TemporaryFile("w+") as out:
        start = time.perf_counter()
        child = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    if child.returncode != 0:
        raise RuntimeError(f"{args[1:4]} exited {child.returncode}:\n{output[-2000:]}")
    return Process(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, output)


def table_counts(database: str) -> dict[str, int]:
    names = ("users", "classes", "enrollments", "guardian_links")
    with closing(sqlite3.connect(database)) as conn:
        return {n: conn.execute(f"SELECT count(*) FROM {n}").fetchone()[0] for n in names}  # noqa: S608


def cli_import(folder: Path) -> tuple[Process, dict[str, int]]:
    """Time `flask roster import FOLDER` into a fresh migrated database (set up untimed)."""
    app = fresh_app()
    database = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    env = {
        **os.environ,
        "FLASK_APP": "wsgi.py",
        "KEYSLIP_INSTANCE_PATH": str(Path(database).parent),
        "FLASK_SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "FLASK_SECRET_KEY": "bench",
        "FLASK_JOBS_BACKEND": "inline",
    }
    try:
        run = timed_process([sys.executable, "-m", "flask", "roster", "import", str(folder)], env)
        assert "Applied" in run.output, run.output[-2000:]
        counts = table_counts(database)
    finally:
        shutil.rmtree(Path(database).parent, ignore_errors=True)
    counts["users"] -= 1  # the admin who ran it
    return run, counts


def raw_import(folder: Path) -> tuple[Process, dict[str, int]]:
    """Time bench/raw_import.py into a fresh migrated database (set up untimed)."""
    app = make_app()
    database = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    args = [sys.executable, str(ROOT / "bench" / "raw_import.py"), str(folder), database]
    try:
        run = timed_process(args, dict(os.environ))
        counts = table_counts(database)
    finally:
        shutil.rmtree(Path(database).parent, ignore_errors=True)
    assert json.loads(run.output) == counts, run.output
    return run, counts


def whole_process(files: dict[str, bytes], rounds: int) -> None:
    """Report the CLI import as one process against the csv + executemany script."""
    folder = Path(tempfile.mkdtemp(prefix="keyslip-bench-bundle-"))
    for name, data in files.items():
        (folder / name).write_bytes(data)
    # The app's bytecode, as an installed app has it (pip compiles on install): with
    # PYTHONDONTWRITEBYTECODE set, as on some machines, every start would compile the app's
    # ninety-odd modules again (about 0.2 s), which no deployment pays.
    subprocess.run([sys.executable, "-m", "compileall", "-q", "webapp"], cwd=ROOT, check=True)
    runs: dict[object, list[Process]] = {cli_import: [], raw_import: []}
    counts = {}
    # Alternate the two (and which goes first) so a slow minute on a shared machine
    # falls on both sides; each side's median is compared.
    try:
        for i in range(rounds):
            for side in (raw_import, cli_import) if i % 2 == 0 else (cli_import, raw_import):
                run, counts[side] = side(folder)
                runs[side].append(run)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert counts[cli_import] == counts[raw_import], counts
    cli, raw = runs[cli_import], runs[raw_import]
    wall = statistics.median(r.seconds for r in cli) / statistics.median(r.seconds for r in raw)
    cpu = statistics.median(r.cpu_seconds for r in cli) / statistics.median(
        r.cpu_seconds for r in raw
    )
    done = counts[cli_import]
    print(
        f"whole process: flask roster import {statistics.median(r.seconds for r in cli):.2f} s "
        f"(peak RSS {max(r.peak_mb for r in cli):.0f} MB), csv + executemany script "
        f"{statistics.median(r.seconds for r in raw):.2f} s; medians of {rounds} alternating "
        "rounds (each round, import/script: "
        + ", ".join(f"{c.seconds:.1f}/{r.seconds:.1f}" for c, r in zip(cli, raw, strict=True))
        + f" s); CPU time {cpu:.2f}x (info: less moved by a busy machine); "
        f"{done['users']} people, {done['enrollments']} enrollments, "
        f"{done['guardian_links']} parent links"
    )
    report("whole-process CLI import 50k vs csv + executemany", wall, 3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--whole-process", action="store_true", help="Only the whole-process figure."
    )
    parser.add_argument("--rounds", type=int, default=3, help="Whole-process rounds.")
    args = parser.parse_args()
    files = district_bundle(**SIZES)
    if args.whole_process:
        whole_process(files, args.rounds)
        finish()
    small = district_bundle(**{k: v // 5 for k, v in SIZES.items()})
    rows = _people_rows(files)
    # Median of three: the baseline is short, so one stray pause would move every ratio.
    baseline = statistics.median(raw_baseline(rows, _keyslip_ddl()) for _ in range(3))
    simple = statistics.median(raw_baseline(rows, SIMPLE_DDL) for _ in range(3))
    del rows
    gc.collect()

    app = fresh_app()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    full, counts = keyslip_import(app, files)
    again, again_counts = keyslip_import(app, files)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert again_counts["new"] == 0 and again_counts["updated"] == 0, again_counts
    # Linearity compares two timings, so each is the median of three runs on fresh
    # databases: one stall of a shared machine would otherwise decide the figure.
    fulls = [full] + [keyslip_import(fresh_app(), files)[0] for _ in range(2)]
    full = statistics.median(fulls)  # like the baseline, the median of three
    small_time = statistics.median(keyslip_import(fresh_app(), small)[0] for _ in range(3))
    archive = zipped(files)
    service_app = fresh_app()
    via_service, first = service_import(service_app, archive)
    skipped, second = service_import(service_app, archive)
    assert (first, second) == ("applied", "skipped"), (first, second)
    print(
        f"through the service (zip, encrypted upload): import {via_service:.2f} s, "
        f"byte-identical re-import {skipped:.2f} s (recognised, the database verified "
        f"unchanged by a digest of every imported value, skipped); the same bundle planned "
        f"again in full {again:.2f} s = {again / baseline:.2f}x (for information: what a "
        f"re-export with new bytes but no changed data costs)"
    )
    print(
        f"raw executemany into Keyslip's tables {baseline:.2f} s (into bare tables with only "
        f"the unique keys {simple:.2f} s); full import {full:.2f} s (median of three; "
        f"{counts['new']} people, "
        f"{counts['enrollments']} enrollments); unchanged re-import {again:.2f} s; "
        f"10k-person import {small_time:.2f} s; peak RSS {peak:.0f} MB "
        f"(before import {rss_before:.0f} MB)"
    )
    report("import 50k vs raw executemany", full / baseline, 3)
    report("unchanged re-import vs raw executemany", skipped / baseline, 1)
    report("peak memory", peak, 300, unit=" MB")
    report("50k vs 5 x 10k import (linear = 1)", full / (5 * small_time), 1.3)
    whole_process(files, args.rounds)
    finish()


if __name__ == "__main__":
    main()
