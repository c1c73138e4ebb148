"""Scheduled roster sync from drop folders, the way Clever's SFTP sync works.

Each school has a folder, ROSTER_DROP_DIR/<school id>/ (or ROSTER_DROP_DIR/district/ for a
district-wide export). `flask roster sync` (cron) and the periodic job pick up what the SIS
dropped there: every .zip is one import, and the loose .csv files together are another.
Each becomes an ImportRun; files are moved to processed/ so nothing is imported twice. A run
that fails or stops at the safety valve is shown on the console home and emailed to the
school's admins.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from webapp.extensions import db
from webapp.imports import files, jobs, mapping, runs, sheets
from webapp.models import Role, School, User, user_schools, utcnow
from webapp.services.errors import PolicyError

log = logging.getLogger(__name__)


DISTRICT = "district"


PROCESSED = "processed"


@dataclass
class SyncOutcome:
    folder: str
    files: list[str]
    run_id: int | None
    status: str


def drop_dir() -> Path:
    """Return the root of the drop folders, creating it owner-only."""
    configured = current_app.config.get("ROSTER_DROP_DIR")
    root = Path(configured) if configured else Path(current_app.instance_path) / "roster-drop"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root


def sync_actor(school_id: int | None) -> User | None:
    """Return the admin scheduled imports act as (ROSTER_SYNC_ACTOR, else a fitting admin)."""
    active_admins = select(User).where(User.role == Role.ADMIN, User.deactivated_at.is_(None))
    username = current_app.config.get("ROSTER_SYNC_ACTOR")
    if username:
        return db.session.scalar(active_admins.where(User.username == username))
    district = db.session.scalar(
        active_admins.where(User.district_wide.is_(True)).order_by(User.id)
    )
    if district is not None or school_id is None:
        return district
    return db.session.scalar(
        active_admins.join(user_schools, user_schools.c.user_id == User.id)
        .where(user_schools.c.school_id == school_id)
        .order_by(User.id)
    )


def _settled(path: Path, settle: float, now: float) -> bool:
    return now - path.stat().st_mtime >= settle


def pending_drops(folder: Path, settle: float) -> list[list[Path]]:
    """Group a folder's settled files into imports: each zip alone, loose CSVs together."""
    now = time.time()
    zips, csvs = [], []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        suffix = path.suffix.casefold()
        if suffix == ".zip":
            zips.append(path)
        elif suffix == ".csv":
            csvs.append(path)
    # A CSV set is one export: wait until every file in it has settled.
    groups = [[z] for z in zips if _settled(z, settle, now)]
    if csvs and all(_settled(c, settle, now) for c in csvs):
        groups.append(csvs)
    return groups


def _read_group(folder: Path, group: list[Path]) -> tuple[str, bytes]:
    if len(group) == 1 and group[0].suffix.casefold() == ".zip":
        return group[0].name, group[0].read_bytes()
    return files.bundle_files(group, folder.name)


def _move_processed(folder: Path, group: list[Path]) -> None:
    target = folder / PROCESSED
    target.mkdir(exist_ok=True, mode=0o700)
    stamp = utcnow().strftime("%Y%m%dT%H%M%S")
    for path in group:
        path.replace(target / f"{stamp}-{path.name}")


def sync_folder(folder: Path, school_id: int | None, group: list[Path]) -> SyncOutcome:
    """Import one dropped export and move its files out of the way."""
    names = [p.name for p in group]
    actor = sync_actor(school_id)
    if actor is None:
        log.warning("roster sync: no admin to act as for folder %s", folder.name)
        return SyncOutcome(folder.name, names, None, "no admin")
    name, data = _read_group(folder, group)
    _move_processed(folder, group)
    request = runs.ImportRequest(school_id=school_id)
    run = runs.start_import(name, data, request, actor=actor, origin=f"sync:{folder.name}")
    if mapping.needs_mapping(run):
        try:
            if sheets.maps_per_file(run):
                # Nobody can be asked: every file's role and columns must be remembered.
                sheets.automatic_file_mappings(run, actor=actor, remembered_only=True)
            else:
                mapping.automatic_mapping(run)
        except PolicyError as exc:
            return SyncOutcome(folder.name, names, run.id, jobs.refuse_run(run, exc.problems))
    run.queue()
    db.session.commit()
    status = jobs.apply_import(run.id)
    return SyncOutcome(folder.name, names, run.id, status)


def sync_drop_folders() -> list[SyncOutcome]:
    """Import everything waiting in the drop folders; each import commits on its own."""
    root = drop_dir()
    settle = current_app.config["ROSTER_DROP_SETTLE_SECONDS"]
    outcomes = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folder.name == DISTRICT:
            school_id = None
        elif folder.name.isdigit() and db.session.get(School, int(folder.name)) is not None:
            school_id = int(folder.name)
        else:
            log.warning("roster sync: %s is not a school id or 'district'; skipped", folder.name)
            continue
        for group in pending_drops(folder, settle):
            try:
                outcomes.append(sync_folder(folder, school_id, group))
            except Exception:
                db.session.rollback()
                log.exception("roster sync failed in folder %s", folder.name)
                outcomes.append(SyncOutcome(folder.name, [p.name for p in group], None, "error"))
    return outcomes
