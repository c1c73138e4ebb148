"""Read a spreadsheet upload on the reader core: each file's mapping becomes its FileSpec.

A spreadsheet's columns are whatever the admin's mapping says: a header (or "Column N" in
a file without a header row) for each field, or "=value" for every row. The core walks the
rows and person() builds the people, so names, emails, phones, grades and ids are checked
as in every other format. What only spreadsheets have stays here: role and relationship
words, status, enabled and leaving-date columns, full names, several children per parent,
parents known by name and child, classes and memberships by id. Which role and columns
each file has is sheet_files.py's to say.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date
from typing import Any, Literal

from webapp.csv_safe import is_keyslip_export, unneutralise
from webapp.roster.columns import norm_header
from webapp.roster.context import FileSet, ReadContext, map_role
from webapp.roster.core import Clean, Col, FileSpec, Row, Sheet, match_sheet, person
from webapp.roster.decode import Table
from webapp.roster.normalise import (
    date_hint,
    date_order,
    identity_key,
    parse_date,
    split_full_name,
)
from webapp.roster.people import PeopleCollector
from webapp.roster.records import (
    ClassRecord,
    DateOrder,
    DateQuestion,
    EnrollmentRecord,
    GuardianRecord,
    Role,
    Roster,
    SchoolRecord,
    Status,
)
from webapp.roster.sheet_columns import FIELDS, LINK_ALIASES, LOOKS_LIKE_DATA, guess_links
from webapp.roster.sheet_files import (
    CLASS_ALIASES,
    FIXED_ROLES,
    LINK_FIELDS,
    MEMBERSHIP_ALIASES,
    PEOPLE_ROLES,
    STAFF_ROLES,
    file_specs,
    mapped_role,
)

# The spreadsheet fields person() knows by the core's names.
_CORE_NAMES = {
    "given_name": "given",
    "family_name": "family",
    "middle_name": "middle",
    "student_number": "number",
}
# How a field's value is cleaned when a Row hands it out; the others are read raw.
_CLEAN: dict[str, Clean] = {
    "email": "email",
    "phone": "phone",
    "grade": "grade",
    "number": "number",
    "enabled": "flag",
    "class_code": "text",
    "title": "text",
}
# The columns that can identify a person, the first mapped one is the row's id.
_ID_FIELDS = ("sourced_id", "username", "email", "number")
CHILD_FIELDS = ("linked_student", "linked_student_2", "linked_student_3")
_STATUS_WORDS: dict[str, Status] = {
    "active": "active",
    "current": "active",
    **dict.fromkeys(("tobedeleted", "inactive", "deleted", "left", "deactivated"), "tobedeleted"),
}


def mapped_spec(name: str, fields: Mapping[str, str], required: Iterable[str] = ()) -> FileSpec:
    """Describe a file by its chosen columns ({field: header}); constants are left out.

    A required field with no column chosen is looked for under its own name, so a file
    lacking it gets the core's "required column missing" error.
    """
    headers = {_CORE_NAMES.get(f, f): h for f, h in fields.items() if h and h[0] != "="}
    wanted = tuple(_CORE_NAMES.get(f, f) for f in required)
    headers.update((f, f) for f in wanted if f not in headers)
    # An empty enabled cell reads as enabled (default only matters to "flag" columns).
    columns = tuple(Col(f, h, clean=_CLEAN.get(f, "raw"), default=True) for f, h in headers.items())
    return FileSpec(name, columns, required=wanted)


def match_mapped(
    table: Table,
    ctx: ReadContext,
    fields: Mapping[str, str],
    known: Iterable[str],
    required: Iterable[str] = (),
) -> Sheet | None:
    """Match a file to its chosen columns; None (error logged) if a required one is missing."""
    sheet = match_sheet(table, mapped_spec(table.file, fields, required), ctx)
    if sheet is not None:
        # Messages name a field the file has no column for by the field itself.
        for field in known:
            sheet.names.setdefault(_CORE_NAMES.get(field, field), field)
    return sheet


def cleaned(row: Row, field: str) -> Any:
    """Return a field's cleaned value, '' when the file has no column for it."""
    return row[field] if field in row.sheet.index else ""


def split_ids(value: str) -> list[str]:
    """Split a cell that may hold several ids ("S1, S2" or "S1;S2")."""
    return [part.strip() for part in re.split(r"[,;|]", value) if part.strip()]


class SpreadsheetReader:
    """Read people (and links, classes, memberships) from spreadsheet CSVs with a mapping."""

    def __init__(self, files: FileSet, ctx: ReadContext, mapping: Mapping[str, Any] | None) -> None:
        self.files = files
        self.ctx = ctx
        self.log = ctx.log
        self.mapping = dict(mapping) if mapping else None
        self.roster = Roster(format="csv", complete=False)
        self.people = PeopleCollector(ctx)
        self.schools: dict[str, SchoolRecord] = {}
        self.links: list[tuple[str, str, str, int]] = []
        # (parent sourced id, child reference, file, line, relationship) from parents rows;
        # a child not in the upload may be a student already in Keyslip (the planner looks).
        self.child_links: list[tuple[str, str, str, int, str | None]] = []
        # (class id, person reference, role word, file, line) from class and membership files.
        self.members: list[tuple[str, str, str, str, int]] = []

    def _file_specs(self) -> list[tuple[Table, str, dict[str, str]]]:
        """Open the files; return (table, file role, columns) for each file to read."""
        tables = []
        for name, data in self.files:
            table = self.ctx.open(name, data)
            if table is not None:
                tables.append(table)
        return file_specs(tables, self.mapping, self.log)

    def _people_sheet(
        self, table: Table, mapping: Mapping[str, str], file_role: str = "people"
    ) -> Sheet | None:
        """Match a people file to its mapping; None (error logged) when it cannot be read."""
        headers = {k: v for k, v in mapping.items() if v and v[0] != "=" and k in FIELDS}
        unknown = sorted(set(mapping) - set(FIELDS))
        if unknown:
            self.log.error(
                table.file,
                None,
                None,
                f"The column mapping names unknown fields: {', '.join(unknown)}. "
                f"Known fields: {', '.join(FIELDS)}.",
            )
            return None
        present = {norm_header(h) for h in table.header}
        absent = [h for h in headers.values() if norm_header(h) not in present]
        if absent:
            self.log.error(
                table.file,
                table.header_line,
                None,
                f"The column mapping names {', '.join(repr(h) for h in absent)}, which the "
                f"header row does not have (it has: {', '.join(h for h in table.header if h)}).",
            )
            return None
        looks_like_data = table.has_header and any(LOOKS_LIKE_DATA.search(h) for h in table.header)
        if not headers and looks_like_data:
            self.log.error(
                table.file,
                table.header_line,
                None,
                "The first row looks like data, not column names. If the file has no header "
                "row, say the first row is data (on the upload or column page, or "
                "--no-header) and choose the columns by position; or add a header row (for "
                "example: ID, First Name, Last Name, Email, Role) and upload again.",
            )
            return None
        if looks_like_data:
            self.log.warning(
                table.file,
                table.header_line,
                None,
                "The first row was read as column names, but it looks like data (an email "
                "or a number). If the file has no header row, upload it again and say the "
                "first row is data, so that row is imported too.",
                kind="header-like-data",
            )
        required = ["given_name", "family_name"] if "name" not in headers else ["name"]
        chosen = [r for r in required if r in headers]
        sheet = match_mapped(table, self.ctx, headers, FIELDS, chosen)
        lacking = [r for r in required if r not in headers]
        missing_id = not ({"sourced_id", "username", "email", "student_number"} & set(headers))
        if file_role == "parents" and "linked_student" in headers:
            missing_id = False  # parents without an id are known by name and child
        if lacking or missing_id:
            wanted = ["first name", "last name"] if lacking else []
            if missing_id:
                wanted.append("an ID, username or email")
            self.log.error(
                table.file,
                table.header_line,
                None,
                f"No column was found for {', '.join(wanted)}, so nothing was imported. The "
                f"header row has: {', '.join(h for h in table.header if h)}. Choose the columns "
                "in the mapping, or rename the headers.",
            )
            return None
        if "sourced_id" not in headers:
            fallback = next(
                (f for f in ("username", "email", "student_number") if f in headers), None
            )
            matched_by = fallback.replace("_", " ") if fallback else "name and child"
            self.log.note(f"{table.file}: no ID column, so people are matched by {matched_by}.")
        used = set(headers.values())
        ignored = [h for h in table.header if h and h not in used]
        if ignored:
            self.log.note(f"{table.file}: columns not imported: {', '.join(ignored)}.")
        if sheet is not None and "name" in headers:
            # person() reads the given and family names split from the full name.
            sheet.names["given"] = sheet.names["family"] = sheet.names["name"]
        return sheet

    def read_people(
        self, table: Table, mapping: Mapping[str, str], file_role: str = "people"
    ) -> None:
        """Read a people file: students, parents, staff and teachers, or a mix."""
        sheet = self._people_sheet(table, mapping, file_role)
        if sheet is None:
            return
        unsaid = mapped_role(file_role, mapping)
        if unsaid is not None:
            self.log.error(table.file, None, None, unsaid, kind="no-role")
            return
        constants = {k: v[1:] for k, v in mapping.items() if v.startswith("=")}
        role_constant = FIXED_ROLES.get(file_role) or constants.get("role")
        if file_role == "parents" and "role" in sheet.index:
            role_constant = None  # the column holds relationships (Mother, Grandfather)
        school_constant = constants.get("school")
        id_field = next((f for f in _ID_FIELDS if f in sheet.index), None)
        child_fields = [f for f in CHILD_FIELDS if f in sheet.index]
        skipped = {sheet.index[f] for f in (*child_fields, "school") if f in sheet.index}
        full_name = "name" in sheet.index
        # Only Keyslip's own export neutralised cells; elsewhere a leading "'" is the data.
        from_export = is_keyslip_export(table.header)
        # (index in self.people, line, raw value): read once the whole column is seen,
        # because only the whole column tells day/month order.
        dated: list[tuple[int, int, str]] = []
        for row in sheet.rows():
            if from_export and any(c.startswith("'") for c in row.cells):
                # A Keyslip export neutralised formula cells with "'"; read them verbatim.
                row.cells = [unneutralise(c) for c in row.cells]
                row.values = sheet.fill(row.cells)
            values = row.values
            children = [c for f in child_fields for c in split_ids(values[f])]
            sid = self._sid(row, id_field, file_role, children)
            if not sid:
                continue
            role = self._row_role(row, role_constant or values.get("role", ""), file_role, sid)
            if role is None:
                continue
            school = school_constant or row.ident(values.get("school", ""))
            if school and school not in self.schools:
                column = sheet.names["school"]
                self.schools[school] = SchoolRecord(school, school, row.file, row.line, column)
            relationship = values.get("role") if file_role == "parents" else None
            for child in children:
                link = (sid, row.ident(child), row.file, row.line, relationship or None)
                self.child_links.append(link)
            core = tuple(c for i, c in enumerate(row.cells) if i not in skipped)
            if self.people.seen(sid):
                self.people.repeat(sid, core, school or None, row.file, row.line)
                continue
            if not self._names(row, full_name):
                continue
            record = person(
                row,
                sid,
                role,
                schools=(school,) if school else (),
                status=self._status(row),
                enabled=row["enabled"] if "enabled" in sheet.index else True,
            )
            if record is None:
                continue
            self.people.add(record, core)
            if values.get("leave_date"):
                dated.append((len(self.people.people) - 1, row.line, values["leave_date"]))
        if dated:
            self._leave_dates(table.file, sheet.names["leave_date"], dated)

    def _sid(self, row: Row, id_field: str | None, file_role: str, children: list[str]) -> str:
        """Return a people row's id; '' (error logged) when it has none."""
        raw = row.values[id_field] if id_field else ""
        sid = identity_key(raw) if id_field == "email" else row.ident(raw)
        if not sid and file_role == "parents" and children:
            sid = self._parent_by_name(row, children[0])
        if not sid:
            column = row.column(id_field) if id_field else None
            self.log.error(
                row.file,
                row.line,
                column,
                f"{column or 'The ID'} is empty; the row was skipped.",
                kind="no-id",
            )
        return sid

    def _parent_by_name(self, row: Row, child: str) -> str:
        """Make a stable id for a parent row with no id, from the names and the child's id."""
        names = [row.values.get(f, "") for f in ("given", "family", "name")]
        if not any(names):
            return ""
        key = "\x1f".join((*(n.casefold() for n in names), child))
        sid = "parent-" + hashlib.sha256(key.encode()).hexdigest()[:16]
        row.warning(
            None,
            f"This parent has no ID, so Keyslip knows them by name and child ({child}). If "
            "the name is spelt differently in a later file, a second account is made; give "
            "parents an ID column if the SIS has one.",
            kind="parent-by-name",
        )
        return sid

    def _names(self, row: Row, full_name: bool) -> bool:
        """Tell whether the row has both names (split from a full name); log an error if not."""
        values = row.values
        if full_name:
            values["given"], values["family"] = split_full_name(values["name"])
        if values["given"] and values["family"]:
            return True
        field = "name" if full_name else "given" if not values["given"] else "family"
        row.error(
            field,
            "The name is missing or has no family name; the row was skipped.",
            kind="no-name",
        )
        return False

    def _row_role(self, row: Row, raw: str, file_role: str, sid: str) -> Role | None:
        """Return a row's role; None (problem logged) when the file may not hold it."""
        role = self._role(row, raw, sid)
        if role is None:
            return None
        if file_role == "parents" and role != "parent":
            row.error(
                "role",
                f"'{raw}' in a parents file: only parents and guardians are imported "
                "from it; the row was skipped. Move the row to the right file.",
                kind="bad-role",
            )
            return None
        if file_role == "staff" and role not in STAFF_ROLES:
            row.error(
                "role",
                f"Role '{raw}' in a staff and teachers file: staff are never imported "
                f"as {role}s; the row was skipped. Move the row to the right file.",
                kind="bad-role",
            )
            return None
        return role

    def _role(self, row: Row, raw: str, sid: str) -> Role | None:
        """Return the role a role or relationship word names; None (problem logged) if none."""
        role = map_role(raw)
        if role is not None:
            return role
        # A relationship word ("Stepfather", "Brother") makes a parent or leaves the
        # contact out; in a relationship column an unknown word leaves it out too.
        column = row.column("role")
        parent = self.ctx.contact_is_parent(
            raw,
            row.file,
            row.line,
            column,
            f"'{sid}'",
            unknown_is_contact="relation" in norm_header(column),
        )
        if parent is not None:
            return "parent" if parent else None
        row.error(
            "role",
            f"Role '{raw}' is not one of student, teacher, staff, parent, admin; the row "
            "was skipped.",
            kind="bad-role",
        )
        return None

    @staticmethod
    def _status(row: Row) -> Status | None:
        """Return the row's status column read as active or leaving; warn on other words."""
        raw = row.values.get("status")
        if not raw:
            return None
        status = _STATUS_WORDS.get(raw.casefold())
        if status is None:
            row.warning(
                "status", f"Status '{raw}' is not active or inactive; ignored.", kind="status"
            )
        return status

    def _leave_dates(self, file: str, column: str, dated: list[tuple[int, int, str]]) -> None:
        """Read the leaving dates; people whose date has come are marked as leaving."""
        order = date_order([raw for _, _, raw in dated])
        if order == "mixed":
            day_first = next((line, raw) for _, line, raw in dated if date_hint(raw) == "DMY")
            month_first = next((line, raw) for _, line, raw in dated if date_hint(raw) == "MDY")
            line, raw = max(day_first, month_first)
            other_line, other = min(day_first, month_first)
            self.log.error(
                file,
                line,
                column,
                f"'{raw}' can only be read {'day' if date_hint(raw) == 'DMY' else 'month'} "
                f"first, but '{other}' on line {other_line} only "
                f"{'day' if date_hint(other) == 'DMY' else 'month'} first. Write every date "
                f"in column '{column}' the same way (2025-07-31 is safest) and upload again.",
                kind="mixed-dates",
            )
            return
        reading: DateOrder | None = None
        if order in ("DMY", "MDY"):
            reading = order  # type: ignore[assignment]
        elif order == "ambiguous":
            line, example = next(
                (line, raw) for _, line, raw in dated if date_hint(raw) == "either"
            )
            self.roster.date_questions.append(
                DateQuestion(file, line, column, example, self.ctx.date_order)
            )
            if self.ctx.date_order is None:
                self.log.error(
                    file,
                    line,
                    column,
                    f"Dates in column '{column}' could be day/month or month/day (for "
                    f"example {example}). Choose the date order and preview again.",
                    kind="date-order",
                )
            reading = self.ctx.date_order
        today = self.ctx.today
        people = self.people.people
        leaving = 0
        upcoming: list[date] = []
        for index, line, raw in dated:
            # Unanswered, the order is unknown: still check every value is a date at all.
            when = parse_date(raw, reading or "DMY")
            if when is None:
                self.log.warning(
                    file,
                    line,
                    column,
                    f"'{raw[:40]}' is not a date Keyslip can read (write it as 2025-07-31 or "
                    "31.07.2025); the leaving date was ignored and the person kept.",
                    kind="bad-date",
                )
            elif reading is None and order == "ambiguous":
                continue
            elif when <= today:
                people[index] = replace(people[index], status="tobedeleted", left_on=when)
                leaving += 1
            else:
                upcoming.append(when)
        if leaving:
            self.log.note(
                f"{file}: {leaving} {'person has' if leaving == 1 else 'people have'} a leaving "
                f"date on or before {today.isoformat()}, so they are treated as leaving: "
                "deactivated if they are in Keyslip, not created if they are not."
            )
        if upcoming:
            first = min(upcoming)
            self.roster.next_leave_date = first
            self.log.note(
                f"{file}: {len(upcoming)} {'person has' if len(upcoming) == 1 else 'people have'}"
                f" a leaving date still to come (the first on {first.isoformat()}); they stay "
                "active until an import on or after that date."
            )

    def _mapped(
        self,
        table: Table,
        mapping: Mapping[str, str],
        aliases: Mapping[str, tuple[str, ...]],
        required: tuple[str, ...],
    ) -> tuple[Sheet, dict[str, str]] | None:
        """Open a class or membership file's columns: mapped ones, and constants ("=value")."""
        constants = {k: v[1:] for k, v in mapping.items() if v.startswith("=") and k in aliases}
        fields = {k: v for k, v in mapping.items() if v and not v.startswith("=")}
        unknown = sorted(set(fields) - set(aliases))
        lacking = [f for f in required if f not in fields]
        if unknown or lacking:
            self.log.error(
                table.file,
                table.header_line,
                None,
                (f"Unknown fields: {', '.join(unknown)}. " if unknown else "")
                + (f"Choose the column for {', '.join(lacking)}. " if lacking else "")
                + f"The fields of this file are: {', '.join(aliases)}.",
            )
            return None
        sheet = match_mapped(table, self.ctx, fields, aliases, required)
        return None if sheet is None else (sheet, constants)

    def read_links(self, table: Table, mapping: Mapping[str, str]) -> None:
        """Read a parent-student links file."""
        guessed = guess_links(table.header)
        guessed.update({k: v for k, v in mapping.items() if k in LINK_ALIASES and v})
        sheet = match_mapped(table, self.ctx, guessed, LINK_FIELDS, LINK_FIELDS)
        if sheet is None:
            return
        for row in sheet.rows():
            parent, student = row.values["link_parent"], row.values["link_student"]
            if parent and student:
                self.links.append((parent, student, row.file, row.line))

    def read_classes(self, table: Table, mapping: Mapping[str, str]) -> None:
        """Read a classes file: class id, title, optional code, teacher id(s) and school."""
        opened = self._mapped(table, mapping, CLASS_ALIASES, ("class_id",))
        if opened is None:
            return
        sheet, constants = opened
        self.roster.modes["classes"] = "bulk"
        if "title" not in sheet.index and "class_code" not in sheet.index:
            self.log.error(table.file, None, None, "Choose the column with the class's title.")
            return
        for row in sheet.rows():
            class_id = row.ident(row.values["class_id"])
            code = cleaned(row, "class_code")
            title = cleaned(row, "title") or code
            if not class_id or not title:
                missing = "class_id" if not class_id else "title"
                row.error(
                    missing,
                    f"{row.column(missing)} is empty; the class was skipped.",
                    kind="no-id" if not class_id else "no-name",
                )
                continue
            school = constants.get("school") or row.ident(row.values.get("school", ""))
            if school and school not in self.schools:
                self.schools[school] = SchoolRecord(
                    school, school, row.file, row.line, row.column("school")
                )
            self.roster.classes.append(
                ClassRecord(class_id, school or None, title, code or None, (), row.file, row.line)
            )
            for teacher in split_ids(row.values.get("teacher_id", "")):
                self.members.append((class_id, row.ident(teacher), "teacher", row.file, row.line))

    def read_memberships(self, table: Table, mapping: Mapping[str, str]) -> None:
        """Read a class memberships file: class id, person id, role (optional)."""
        opened = self._mapped(table, mapping, MEMBERSHIP_ALIASES, ("class_id", "person_id"))
        if opened is None:
            return
        sheet, constants = opened
        # Only a memberships file lists every class place (a classes file only teachers).
        self.roster.modes["enrollments"] = "bulk"
        for row in sheet.rows():
            class_id = row.ident(row.values["class_id"])
            member = row.ident(row.values["person_id"])
            if not class_id or not member:
                missing = "class_id" if not class_id else "person_id"
                row.error(
                    missing, f"{row.column(missing)} is empty; the row was skipped.", kind="no-id"
                )
                continue
            role = constants.get("role") or row.values.get("role", "")
            self.members.append((class_id, member, role, row.file, row.line))

    def _resolve(self) -> dict[str, str]:
        """Map ids, usernames and emails (identity keys) to sourced ids."""
        keys: dict[str, str] = {}
        for record in self.people.people:
            for value in (record.email, record.username):
                if value:
                    keys.setdefault(identity_key(value), record.sourced_id)
        for record in self.people.people:
            keys[identity_key(record.sourced_id)] = record.sourced_id
        return keys

    def link(self) -> None:
        """Turn collected (parent, student) pairs into GuardianRecords."""
        keys = self._resolve()
        for parent_ref, student_ref, file, line in self.links:
            parent = keys.get(identity_key(parent_ref))
            student = keys.get(identity_key(student_ref))
            if parent is None or student is None:
                missing = parent_ref if parent is None else student_ref
                self.log.warning(
                    file,
                    line,
                    None,
                    f"'{missing}' matches nobody in the people file by ID, username or email; "
                    "no link was made.",
                    kind="dangling-link",
                )
                continue
            self._guardian(parent, student, file, line)
        for parent, child_ref, file, line, relationship in self.child_links:
            student = keys.get(identity_key(child_ref))
            if student is None:
                # Perhaps a student already in Keyslip: the planner matches by SIS id.
                self.roster.guardians.append(
                    GuardianRecord(parent, child_ref, file, line, relationship)
                )
                continue
            self._guardian(parent, student, file, line, relationship)

    def _guardian(
        self, parent: str, student: str, file: str, line: int, relationship: str | None = None
    ) -> None:
        roles = (self.people.role_of(parent), self.people.role_of(student))
        if roles != ("parent", "student"):
            self.log.warning(
                file,
                line,
                None,
                f"'{parent}' is a {roles[0]} and '{student}' a {roles[1]}; only a parent can "
                "be linked to a student, so no link was made.",
                kind="pairing",
            )
            return
        self.roster.guardians.append(GuardianRecord(parent, student, file, line, relationship))

    def enroll(self) -> None:
        """Turn class teachers and memberships into EnrollmentRecords."""
        if not self.members:
            return
        keys = self._resolve()
        classes = {c.sourced_id for c in self.roster.classes}
        # Without a classes file, memberships may name classes imported earlier.
        earlier_classes = "classes" not in self.roster.modes
        first_teacher: set[str] = set()
        for class_id, ref, word, file, line in self.members:
            member = keys.get(identity_key(ref))
            if class_id not in classes and not earlier_classes:
                self.log.warning(
                    file,
                    line,
                    None,
                    f"Class '{class_id}' is not in the classes file; the place was not added.",
                    kind="dangling-class",
                )
                continue
            if member is None:
                # Perhaps someone imported earlier: the planner matches by SIS id.
                said = self._class_role(word, None) or "student"
                self.roster.enrollments.append(
                    EnrollmentRecord(class_id, ref, said, False, file, line)
                )
                continue
            role = self._class_role(word, self.people.role_of(member))
            if role is None:
                self.log.warning(
                    file,
                    line,
                    None,
                    f"'{ref}' is a {self.people.role_of(member)}; only students and teachers "
                    "are placed in classes.",
                    kind="pairing",
                )
                continue
            primary = role == "teacher" and class_id not in first_teacher
            if primary:
                first_teacher.add(class_id)
            self.roster.enrollments.append(
                EnrollmentRecord(class_id, member, role, primary, file, line)
            )

    @staticmethod
    def _class_role(word: str, person_role: str | None) -> Literal["student", "teacher"] | None:
        """Return a class member's role: as the row says it, else by the person's role."""
        said = map_role(word) if word else None
        role = said or person_role
        if role == "student":
            return "student"
        if role in STAFF_ROLES:
            return "teacher"
        return None

    def read(self) -> Roster:
        """Read every file of the upload by its role."""
        for table, role, columns in self._file_specs():
            if role in PEOPLE_ROLES:
                self.read_people(table, columns, role)
                if table.row_count == 0 and not self.log.has_file_error({table.file}):
                    self.log.error(
                        table.file,
                        None,
                        None,
                        "The file has a header row but no people in it.",
                    )
            elif role == "classes":
                self.read_classes(table, columns)
            elif role == "memberships":
                self.read_memberships(table, columns)
            elif role == "links":
                self.read_links(table, columns)
            else:
                self.log.note(f"{table.file}: not imported, as chosen.")
        self.link()
        self.enroll()
        self.roster.people = self.people.people
        self.roster.schools = list(self.schools.values())
        return self.roster


def read_spreadsheet(files: FileSet, ctx: ReadContext, mapping: Mapping[str, Any] | None) -> Roster:
    """Read a spreadsheet upload; it is not a complete roster unless the caller says so."""
    return SpreadsheetReader(files, ctx, mapping).read()
