"""A spreadsheet's columns: guessed, remembered per school, chosen on the page or the CLI.

A remembered mapping is offered, never applied silently, when the file's columns differ from
the ones it was made for.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from webapp.extensions import db
from webapp.imports.states import CSV_FORMAT, require_pending
from webapp.models import (
    ImportRun,
    Setting,
    User,
)
from webapp.roster import DATE_ORDERS, DateQuestion
from webapp.roster.columns import norm_header
from webapp.roster.detect import peek_files
from webapp.roster.normalise import parse_date
from webapp.roster.sheet_columns import guess_mapping, looks_like_data, unmapped_meaningful
from webapp.roster.sheet_files import PEOPLE_ROLES, fields_of, mapped_role, role_for_name
from webapp.roster.upload import unpack_upload
from webapp.services import audit, uploads
from webapp.services.errors import PolicyError

MAPPING_SETTING = "roster.csv_mapping"


# The day/month order last chosen for a school's ambiguous dates, used until changed (the
# same SIS writes its dates the same way every time, and a scheduled sync cannot ask).
DATE_ORDER_SETTING = "roster.date_order"


ROLE_CONSTANTS = ("=student", "=teacher", "=staff", "=parent")


def remembered(school_id: int | None, key: str) -> Any:
    """Return what an earlier import of this school (None: district) chose for key."""
    return db.session.scalar(
        select(Setting.value).where(
            Setting.school_id.is_(None) if school_id is None else Setting.school_id == school_id,
            Setting.key == key,
        )
    )


def remember(run: ImportRun, key: str, value: Any, *, actor: User) -> None:
    """Keep a choice made for this run as the default for the run's school's next imports."""
    setting = db.session.scalar(
        select(Setting).where(
            Setting.school_id.is_(None)
            if run.school_id is None
            else Setting.school_id == run.school_id,
            Setting.key == key,
        )
    )
    if setting is None:
        db.session.add(Setting(school_id=run.school_id, key=key, value=value))
    elif setting.value != value:
        setting.value = value
    else:
        return
    audit.record(actor, "setting_changed", run, key=key, school_id=run.school_id)


def needs_mapping(run: ImportRun) -> bool:
    """Tell whether a spreadsheet upload still needs its columns chosen."""
    return run.format == CSV_FORMAT and "mapping" not in (run.options or {})


def has_header(run: ImportRun) -> bool:
    return (run.options or {}).get("has_header", True) is not False


def chosen_mapping(run: ImportRun) -> dict[str, str] | None:
    """Return the columns chosen for the run's spreadsheet, or None before they are."""
    return (run.options or {}).get("mapping")


def same_reading(one: ImportRun, other: ImportRun) -> bool:
    """Tell whether two runs read their spreadsheets' columns alike (every option here)."""
    return (one.options or {}) == (other.options or {})


def set_has_header(run: ImportRun, has_header: bool) -> None:
    """Say whether the run's spreadsheet has a header row; drops any mapping chosen."""
    options = {k: v for k, v in (run.options or {}).items() if k not in ("mapping", "has_header")}
    run.options = options if has_header else {**options, "has_header": False}


def _people_columns(run: ImportRun) -> tuple[list[str], list[list[str]]]:
    """Return the people file's column names and first rows, decoded as the import reads them."""
    name, data = uploads.load_upload(run.upload_key)
    files, _ = unpack_upload(name, data)
    peeked = peek_files(files, has_header(run), samples=SAMPLE_ROWS)
    # The people file is the one whose headers look most like names and emails.
    best: tuple[list[str], list[list[str]]] = ([], [])
    best_score = -1
    for headers, rows in peeked.values():
        guessed = guess_mapping(headers)
        score = sum(f in guessed for f in ("given_name", "family_name", "name", "email"))
        if score > best_score:
            best, best_score = (headers, rows), score
    return best


# Rows shown under each column on the mapping page, so a file without headers can be mapped.
SAMPLE_ROWS = 3


@dataclass
class MappingChoice:
    """The columns to offer on the mapping page, and what to tell the admin about them.

    remembered: the mapping is the one saved from the school's last upload (previous: the
    school has one, offered or not). changed: that upload had other columns (new_columns
    it lacked, gone_columns it had), so the admin must confirm the mapping before use.
    unmapped: columns the mapping leaves out that look like they matter, as (column, field
    it resembles).
    """

    headers: list[str]
    mapping: dict[str, str]
    remembered: bool
    samples: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    has_header: bool = True
    new_columns: list[str] = dataclasses.field(default_factory=list)
    gone_columns: list[str] = dataclasses.field(default_factory=list)
    # A mapping remembered before Keyslip kept the headers with it: nobody can tell what is new.
    unknown_before: bool = False
    # The school has a remembered mapping, offered or (when it names missing columns) not.
    previous: bool = False

    @property
    def header_looks_like_data(self) -> bool:
        """Tell whether the row read as column names looks like a person instead."""
        return self.has_header and any(looks_like_data(h) for h in self.headers)

    @property
    def changed(self) -> bool:
        """Tell whether the remembered mapping was made for a file with other columns."""
        return self.previous and bool(self.new_columns or self.gone_columns or self.unknown_before)

    @property
    def unmapped(self) -> list[tuple[str, str]]:
        """Return columns left unmapped that look meaningful, with the field they resemble."""
        return unmapped_meaningful(self.headers, self.mapping)

    def differences(self) -> str:
        """Say how this file's columns differ from the ones the remembered mapping was for."""
        parts = []
        if self.new_columns:
            parts.append(
                f"this file has columns the last one did not: {', '.join(self.new_columns)}"
            )
        if self.gone_columns:
            parts.append(
                f"the last one had columns this file lacks: {', '.join(self.gone_columns)}"
            )
        if self.unknown_before:
            parts.append("the columns of the last file were not recorded")
        return "; ".join(parts)


def _remembered_mapping(run: ImportRun) -> tuple[dict[str, str], list[str] | None] | None:
    """Return the school's remembered (mapping, headers it was made for), if any.

    Mappings remembered before headers were stored come back with headers None.
    """
    saved = remembered(run.school_id, MAPPING_SETTING)
    if not isinstance(saved, dict) or not saved:
        return None
    if isinstance(saved.get("mapping"), dict):
        return dict(saved["mapping"]), list(saved.get("headers") or []) or None
    return dict(saved), None


def mapping_choice(run: ImportRun) -> MappingChoice:
    """Return the upload's headers and the mapping to offer: remembered, else guessed."""
    columns, rows = _people_columns(run)
    choice = new_choice(columns, rows, has_header(run))
    current = chosen_mapping(run)
    remembered = _remembered_mapping(run) if not current else None
    if current:
        choice.mapping = dict(current)
    elif remembered:
        offer_remembered(choice, remembered, guess_mapping(choice.headers))
    else:
        choice.mapping = guess_mapping(choice.headers)
        # The file's name may say who is in it ("students.csv"); the page shows it to confirm.
        named = role_for_name(run.file_name or "")
        if "role" not in choice.mapping and named:
            choice.mapping["role"] = named
    return choice


def new_choice(columns: list[str], rows: list[list[str]], header: bool) -> MappingChoice:
    """Return a MappingChoice of a file's named columns and their first values."""
    headers = [h for h in columns if h]
    samples = {
        h: [row[i] for row in rows if i < len(row) and row[i]] for i, h in enumerate(columns) if h
    }
    return MappingChoice(headers, {}, False, samples=samples, has_header=header)


def offer_remembered(
    choice: MappingChoice,
    remembered: tuple[dict[str, str], list[str] | None],
    guessed: dict[str, str],
) -> None:
    """Offer a remembered mapping if every column it names is still there, else the guess."""
    mapping, old = remembered
    headers = choice.headers
    choice.previous = True
    if old is None:
        choice.unknown_before = True
        old = [*headers, *(v for v in mapping.values() if not v.startswith("="))]
    choice.new_columns = [h for h in headers if h not in old]
    choice.gone_columns = [h for h in dict.fromkeys(old) if h not in headers]
    if all(v in headers or v.startswith("=") for v in mapping.values()):
        choice.mapping, choice.remembered = mapping, True
    else:
        choice.mapping = guessed


def automatic_mapping(run: ImportRun) -> MappingChoice:
    """Give a run nobody can ask (the CLI without --mapping, sync) its mapping; caller commits.

    The remembered mapping is used only for a file with exactly the columns it was made
    for; otherwise PolicyError says which columns changed. With nothing remembered, the
    guess from the headers is used.
    """
    choice = mapping_choice(run)
    if choice.changed:
        raise PolicyError(
            [
                f"The column mapping remembered from the last upload does not fit this file: "
                f"{choice.differences()}. Choose the columns on the import page, or give them "
                "with --mapping or --mapping-file, so no column is ignored by mistake."
            ]
        )
    run.options = {**run.options, "mapping": choice.mapping}
    return choice


def _column(value: str, headers: Sequence[str], has_header: bool) -> str | None:
    """Return the file's column a mapping value names: as spelt, folded, or by position."""
    if value in headers:
        return value
    folded = [h for h in headers if norm_header(h) == norm_header(value)]
    if len(folded) == 1:
        return folded[0]
    if not has_header and value.strip().isdigit() and 1 <= int(value) <= len(headers):
        return headers[int(value) - 1]
    return None


def check_columns(
    role: str, mapping: Mapping[str, str], headers: Sequence[str], header: bool
) -> tuple[dict[str, str], list[str]]:
    """Return the chosen {field: column} of a file of this role, and what is wrong with it."""
    fields = fields_of(role)
    chosen: dict[str, str] = {}
    problems = []
    for field, value in mapping.items():
        if not value:
            continue
        # An explicit allow-list: unknown fields and made-up columns are refused, not stored.
        # The password column is read only by an import told to set passwords.
        if field not in fields:
            problems.append(
                f"{field!r} is not a Keyslip field. The fields are: {', '.join(fields)}."
            )
            continue
        if field == "role" and value in ROLE_CONSTANTS:
            chosen[field] = value
            continue
        column = _column(value, headers, header)
        if column is None:
            problems.append(
                f"The file has no column {value!r} (for {field}). Its columns are: "
                f"{', '.join(headers)}."
            )
        else:
            chosen[field] = column
    return chosen, problems + _missing(role, chosen)


def _missing(role: str, chosen: Mapping[str, str]) -> list[str]:
    """Say which columns a file of this role still needs."""
    if role == "classes":
        if "class_id" not in chosen or not {"title", "class_code"} & set(chosen):
            return ["Choose the class ID and class title columns."]
        return []
    if role == "memberships":
        if not {"class_id", "person_id"} <= set(chosen):
            return ["Choose the class ID and person ID columns."]
        return []
    if role == "links":
        if not {"link_parent", "link_student"} <= set(chosen):
            return ["Choose the parent and student columns."]
        return []
    if role not in PEOPLE_ROLES:
        return []
    problems = []
    if "name" not in chosen and not {"given_name", "family_name"} <= set(chosen):
        problems.append("Choose the first name and last name columns (or one full-name column).")
    ids = {"sourced_id", "username", "email", "student_number"}
    parents = role == "parents" or chosen.get("role") == "=parent"
    if not ids & set(chosen) and not (parents and "linked_student" in chosen):
        problems.append("Choose a column that identifies each person: an ID, username or email.")
    unsaid = mapped_role(role, chosen)
    if unsaid:
        problems.append(unsaid)
    return problems


def save_mapping(
    run: ImportRun, mapping: Mapping[str, str], *, actor: User, confirmed: bool = False
) -> None:
    """Store the chosen columns on the run and remember them for the school; caller commits.

    confirmed says the admin checked the columns; it is needed when the remembered mapping
    was made for a file with other columns.
    """
    require_pending(run)
    choice = mapping_choice(run)
    headers = choice.headers
    chosen, problems = check_columns("people", mapping, headers, choice.has_header)
    if choice.changed and not confirmed:
        problems.append(
            f"The columns remembered from the last upload were offered, but {choice.differences()}."
            " Check each column and tick the box to confirm."
        )
    if problems:
        raise PolicyError(problems)
    run.options = {**run.options, "mapping": chosen}
    remember(run, MAPPING_SETTING, {"mapping": chosen, "headers": headers}, actor=actor)
    db.session.flush()


def choose_header(run: ImportRun, has_header: bool, *, actor: User) -> None:
    """Say whether the run's spreadsheet starts with a header row; the caller commits.

    The columns change with the answer, so any mapping chosen for the run is dropped.
    """
    require_pending(run)
    if run.format != CSV_FORMAT:
        raise PolicyError(["Only spreadsheets may come without a header row."])
    set_has_header(run, has_header)
    audit.record(actor, "import_header_chosen", run, has_header=has_header)
    db.session.flush()


def choose_date_order(run: ImportRun, order: str, *, actor: User) -> None:
    """Answer the day/month question for the run's dates; the caller commits."""
    require_pending(run)
    if order not in DATE_ORDERS:
        raise PolicyError(["Choose day/month or month/day."])
    run.date_order = order
    audit.record(actor, "import_date_order_chosen", run, date_order=order)
    remember(run, DATE_ORDER_SETTING, order, actor=actor)
    db.session.flush()


DATE_ORDER_LABELS = {"DMY": "Day first (day/month/year)", "MDY": "Month first (month/day/year)"}


_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def choose_create_schools(run: ImportRun, create: bool, *, actor: User) -> None:
    """Say whether the run creates the schools its file names that Keyslip lacks; caller commits.

    The next preview plans again with the choice (it is one of the run's options).
    """
    require_pending(run)
    if create and not actor.district_wide:
        raise PolicyError(["Only a district-wide admin can create schools."])
    if run.create_schools == create:
        return
    run.create_schools = create
    audit.record(actor, "import_create_schools_chosen", run, create_schools=create)
    db.session.flush()


def date_readings(question: DateQuestion) -> list[tuple[str, str, str]]:
    """Return (order, label, the example read that way) for each possible answer."""
    readings = []
    for order in DATE_ORDERS:
        when = parse_date(question.example, order)
        shown = f"{when.day} {_MONTHS[when.month - 1]} {when.year}" if when else question.example
        readings.append((order, DATE_ORDER_LABELS[order], shown))
    return readings
