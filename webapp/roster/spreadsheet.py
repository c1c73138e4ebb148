"""Read a spreadsheet export: people files (students, parents, staff), classes and memberships."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from typing import Any, Literal

from webapp.csv_safe import is_keyslip_export, unneutralise
from webapp.roster.columns import Columns, norm_header
from webapp.roster.context import FileSet, ReadContext, map_role
from webapp.roster.decode import Table
from webapp.roster.normalise import date_hint, date_order, identity_key, parse_date
from webapp.roster.people import PeopleCollector
from webapp.roster.records import (
    ClassRecord,
    DateOrder,
    DateQuestion,
    EnrollmentRecord,
    GuardianRecord,
    PersonRecord,
    Role,
    Roster,
    SchoolRecord,
    Status,
)
from webapp.roster.sheet_columns import (
    FIELDS,
    LINK_ALIASES,
    LOOKS_LIKE_DATA,
    guess_links,
    guess_mapping,
)
from webapp.roster.sheet_files import (
    CLASS_ALIASES,
    FILE_ROLES,
    FIXED_ROLES,
    MEMBERSHIP_ALIASES,
    PEOPLE_ROLES,
    STAFF_ROLES,
    guess_file_columns,
    guess_file_role,
    mapped_role,
)


def split_name(name: str) -> tuple[str, str]:
    """Split "Smith, Mary" or "Mary Ann Smith" into (given, family)."""
    if "," in name:
        family, _, given = name.partition(",")
        return given.strip(), family.strip()
    parts = name.split()
    if len(parts) < 2:
        return name.strip(), ""
    return " ".join(parts[:-1]), parts[-1]


class SpreadsheetReader:
    """Read people (and links) from spreadsheet CSVs with a column mapping."""

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
        per_file = (self.mapping or {}).get("files")
        if isinstance(per_file, dict):
            return self._chosen_specs(tables, per_file)
        if self.mapping is None:
            return self._guessed_specs(tables)
        if len(tables) > 2:
            self.log.error(
                "upload",
                None,
                None,
                "A column mapping for one file was given, but the upload holds "
                f"{len(tables)} files: give each file its role and columns (on the column "
                "page, or with --file-role and --mapping FILE:field=column).",
            )
            return []

        def score(table: Table) -> int:
            guessed = guess_mapping(table.header)
            return sum(f in guessed for f in ("given_name", "family_name", "name", "email"))

        tables.sort(key=score, reverse=True)
        specs = [(tables[0], self._people_role(tables[0], self.mapping), self.mapping)]
        if len(tables) > 1:
            specs.append((tables[1], "links", {}))
        return specs

    @staticmethod
    def _people_role(table: Table, mapping: Mapping[str, str]) -> str:
        """Return the role of a people file mapped by one flat mapping."""
        said = mapping.get("role")
        if said:
            return {"=student": "students", "=parent": "parents"}.get(said, "people")
        named = guess_file_role(table.file, ())
        return named if named in PEOPLE_ROLES else "people"

    def _chosen_specs(
        self, tables: list[Table], per_file: Mapping[str, Any]
    ) -> list[tuple[Table, str, dict[str, str]]]:
        specs = []
        for table in tables:
            spec = per_file.get(table.file)
            role = spec.get("role") if isinstance(spec, dict) else None
            if role not in FILE_ROLES:
                self.log.error(
                    table.file,
                    None,
                    None,
                    "Say what this file holds (students, parents, staff and teachers, "
                    "classes, class memberships, or not imported) on the column page or "
                    "with --file-role.",
                    kind="file-role",
                )
                continue
            specs.append((table, role, dict(spec.get("columns") or {})))
        return specs

    def _guessed_specs(self, tables: list[Table]) -> list[tuple[Table, str, dict[str, str]]]:
        specs = []
        for table in tables:
            role = guess_file_role(table.file, table.header)
            if role is None and len(tables) == 1:
                role = "people"
            if role is None:
                self.log.error(
                    table.file,
                    None,
                    None,
                    "Keyslip cannot tell what this file holds from its name or columns. Say "
                    "its role (students, parents, staff and teachers, classes, class "
                    "memberships) on the column page or with --file-role.",
                    kind="file-role",
                )
                continue
            specs.append((table, role, guess_file_columns(role, table.file, table.header)))
        return specs

    def _columns(
        self, table: Table, mapping: Mapping[str, str], file_role: str = "people"
    ) -> tuple[Columns, dict[str, str]] | None:
        constants = {k: v[1:] for k, v in mapping.items() if v.startswith("=")}
        headers = {k: v for k, v in mapping.items() if not v.startswith("=") and k in FIELDS}
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
        fields = {field: (header,) for field, header in headers.items()}
        required = ["given_name", "family_name"] if "name" not in fields else ["name"]
        missing_id = not ({"sourced_id", "username", "email", "student_number"} & set(fields))
        if file_role == "parents" and "linked_student" in fields:
            missing_id = False  # parents without an id are known by name and child
        cols = Columns(table, fields, [r for r in required if r in fields], self.log)
        lacking = [r for r in required if r not in fields]
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
        if "sourced_id" not in fields:
            fallback = next(
                (f for f in ("username", "email", "student_number") if f in fields), None
            )
            matched_by = fallback.replace("_", " ") if fallback else "name and child"
            self.log.note(f"{table.file}: no ID column, so people are matched by {matched_by}.")
        used = set(headers.values())
        ignored = [h for h in table.header if h and h not in used]
        if ignored:
            self.log.note(f"{table.file}: columns not imported: {', '.join(ignored)}.")
        return cols, constants

    def _role(self, raw: str, file: str, line: int, column: str, sid: str) -> Role | None:
        role = map_role(raw)
        if role is not None:
            return role
        # A relationship word ("Stepfather", "Brother") makes a parent or leaves the
        # contact out; in a relationship column an unknown word leaves it out too.
        parent = self.ctx.contact_is_parent(
            raw,
            file,
            line,
            column,
            f"'{sid}'",
            unknown_is_contact="relation" in norm_header(column),
        )
        if parent is not None:
            return "parent" if parent else None
        if role is None:
            self.log.error(
                file,
                line,
                column,
                f"Role '{raw}' is not one of student, teacher, staff, parent, admin; the row "
                "was skipped.",
                kind="bad-role",
            )
        return role

    def _status(self, raw: str, file: str, line: int, column: str) -> Status | None:
        value = raw.strip().casefold()
        if not value:
            return None
        if value in ("active", "current"):
            return "active"
        if value in ("tobedeleted", "inactive", "deleted", "left", "deactivated"):
            return "tobedeleted"
        self.log.warning(
            file, line, column, f"Status '{raw}' is not active or inactive; ignored.", kind="status"
        )
        return None

    def read_people(
        self, table: Table, mapping: Mapping[str, str], file_role: str = "people"
    ) -> None:
        """Read a people file: students, parents, staff and teachers, or a mix."""
        opened = self._columns(table, mapping, file_role)
        if opened is None:
            return
        cols, constants = opened
        ctx, file = self.ctx, table.file
        id_field = next(
            (f for f in ("sourced_id", "username", "email", "student_number") if cols.has(f)),
            None,
        )
        unsaid = mapped_role(file_role, mapping)
        if unsaid is not None:
            self.log.error(file, None, None, unsaid, kind="no-role")
            return
        role_constant = FIXED_ROLES.get(file_role) or constants.get("role")
        if file_role == "parents" and cols.has("role"):
            role_constant = None  # the column holds relationships (Mother, Grandfather)
        school_constant = constants.get("school")
        child_fields = [f for f in CHILD_FIELDS if cols.has(f)]
        skipped = {cols.index[f] for f in (*child_fields, "school") if cols.has(f)}
        # Only Keyslip's own export neutralised cells; elsewhere a leading "'" is the data.
        from_export = is_keyslip_export(table.header)
        # (index in self.people, line, raw value): read once the whole column is seen,
        # because only the whole column tells day/month order.
        dated: list[tuple[int, int, str]] = []
        for line, cells in table.rows():
            if from_export and any(c.startswith("'") for c in cells):
                # A Keyslip export neutralised formula cells with "'"; read them verbatim.
                cells = [unneutralise(c) for c in cells]
            children = [c for f in child_fields for c in split_ids(cols.get(cells, f))]
            raw_id = cols.get(cells, id_field) if id_field else ""
            sid = identity_key(raw_id) if id_field == "email" else ctx.ident(raw_id)
            if not sid and file_role == "parents" and children:
                sid = self._parent_by_name(cols, cells, children[0], file, line)
            if not sid:
                column = cols.name(id_field) if id_field else None
                self.log.error(
                    file,
                    line,
                    column,
                    f"{column or 'The ID'} is empty; the row was skipped.",
                    kind="no-id",
                )
                continue
            raw_role = role_constant or cols.get(cells, "role")
            role = self._role(raw_role, file, line, cols.name("role"), sid)
            if role is None:
                continue
            if file_role == "parents" and role != "parent":
                self.log.error(
                    file,
                    line,
                    cols.name("role"),
                    f"'{raw_role}' in a parents file: only parents and guardians are imported "
                    "from it; the row was skipped. Move the row to the right file.",
                    kind="bad-role",
                )
                continue
            if file_role == "staff" and role not in STAFF_ROLES:
                self.log.error(
                    file,
                    line,
                    cols.name("role"),
                    f"Role '{raw_role}' in a staff and teachers file: staff are never imported "
                    f"as {role}s; the row was skipped. Move the row to the right file.",
                    kind="bad-role",
                )
                continue
            school = school_constant or ctx.ident(cols.get(cells, "school"))
            if school and school not in self.schools:
                self.schools[school] = SchoolRecord(school, school, file, line, cols.name("school"))
            relationship = cols.get(cells, "role") if file_role == "parents" else None
            for child in children:
                self.child_links.append((sid, ctx.ident(child), file, line, relationship or None))
            if self.people.seen(sid):
                core = tuple(c for i, c in enumerate(cells) if i not in skipped)
                self.people.repeat(sid, core, school or None, file, line)
                continue
            if cols.has("name"):
                full = cols.get(cells, "name")
                ctx.check_name(full, file, line, cols.name("name"))
                given, family = split_name(full)
                given = ctx.text(given, file, line, cols.name("name"))
                family = ctx.text(family, file, line, cols.name("name"))
            else:
                given = ctx.name(cols.get(cells, "given_name"), file, line, cols.name("given_name"))
                family = ctx.name(
                    cols.get(cells, "family_name"), file, line, cols.name("family_name")
                )
            if not given or not family:
                column = (
                    cols.name("name")
                    if cols.has("name")
                    else cols.name("given_name" if not given else "family_name")
                )
                self.log.error(
                    file,
                    line,
                    column,
                    "The name is missing or has no family name; the row was skipped.",
                    kind="no-name",
                )
                continue
            enabled = True
            if cols.has("enabled"):
                enabled = ctx.flag(
                    cols.get(cells, "enabled"), file, line, cols.name("enabled"), True
                )
            core = tuple(c for i, c in enumerate(cells) if i not in skipped)
            self.people.add(
                PersonRecord(
                    sourced_id=sid,
                    role=role,
                    given_name=given,
                    family_name=family,
                    file=file,
                    line=line,
                    username=ctx.ident(cols.get(cells, "username")) or None,
                    email=ctx.email(cols.get(cells, "email"), file, line, cols.name("email")),
                    phone=ctx.phone([cols.get(cells, "phone")], file, line, cols.name("phone")),
                    grade=ctx.grade(cols.get(cells, "grade"), file, line, cols.name("grade"))
                    if role == "student"
                    else None,
                    student_number=ctx.student_number(
                        cols.get(cells, "student_number"), file, line, cols.name("student_number")
                    ),
                    school_ids=ctx.ids((school,) if school else ()),
                    status=self._status(cols.get(cells, "status"), file, line, cols.name("status")),
                    enabled=enabled,
                    password=cols.get(cells, "password") or None,
                    middle_name=ctx.name(
                        cols.get(cells, "middle_name"), file, line, cols.name("middle_name")
                    )
                    or None,
                ),
                core,
            )
            leave_date = cols.get(cells, "leave_date")
            if leave_date:
                dated.append((len(self.people.people) - 1, line, leave_date))
        if dated:
            self._leave_dates(file, cols.name("leave_date"), dated)

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

    def _parent_by_name(
        self, cols: Columns, cells: list[str], child: str, file: str, line: int
    ) -> str:
        """Make a stable id for a parent row with no id, from the names and the child's id."""
        names = [cols.get(cells, f) for f in ("given_name", "family_name", "name")]
        if not any(names):
            return ""
        key = "\x1f".join((*(n.casefold() for n in names), child))
        sid = "parent-" + hashlib.sha256(key.encode()).hexdigest()[:16]
        self.log.warning(
            file,
            line,
            None,
            f"This parent has no ID, so Keyslip knows them by name and child ({child}). If "
            "the name is spelt differently in a later file, a second account is made; give "
            "parents an ID column if the SIS has one.",
            kind="parent-by-name",
        )
        return sid

    def read_links(self, table: Table, mapping: Mapping[str, str]) -> None:
        """Read a parent-student links file."""
        guessed = guess_links(table.header)
        guessed.update({k: v for k, v in mapping.items() if k in LINK_ALIASES and v})
        fields = {k: (v,) for k, v in guessed.items()}
        cols = Columns(table, fields, ("link_parent", "link_student"), self.log)
        if not cols.ok:
            return
        for line, cells in table.rows():
            parent = cols.get(cells, "link_parent")
            student = cols.get(cells, "link_student")
            if parent and student:
                self.links.append((parent, student, table.file, line))

    def _mapped(
        self,
        table: Table,
        mapping: Mapping[str, str],
        aliases: Mapping[str, tuple[str, ...]],
        required: Sequence[str],
    ) -> tuple[Columns, dict[str, str]] | None:
        """Open a class or membership file's columns: mapped ones, and constants ("=value")."""
        constants = {k: v[1:] for k, v in mapping.items() if v.startswith("=") and k in aliases}
        fields = {k: (v,) for k, v in mapping.items() if v and not v.startswith("=")}
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
        cols = Columns(table, fields, required, self.log)
        return (cols, constants) if cols.ok else None

    def read_classes(self, table: Table, mapping: Mapping[str, str]) -> None:
        """Read a classes file: class id, title, optional code, teacher id(s) and school."""
        opened = self._mapped(table, mapping, CLASS_ALIASES, ("class_id",))
        if opened is None:
            return
        cols, constants = opened
        ctx, file = self.ctx, table.file
        self.roster.modes["classes"] = "bulk"
        if not cols.has("title") and not cols.has("class_code"):
            self.log.error(file, None, None, "Choose the column with the class's title.")
            return
        for line, cells in table.rows():
            class_id = ctx.ident(cols.get(cells, "class_id"))
            code = ctx.text(cols.get(cells, "class_code"), file, line, cols.name("class_code"))
            title = ctx.text(cols.get(cells, "title"), file, line, cols.name("title")) or code
            if not class_id or not title:
                missing = "class_id" if not class_id else "title"
                self.log.error(
                    file,
                    line,
                    cols.name(missing),
                    f"{cols.name(missing)} is empty; the class was skipped.",
                    kind="no-id" if not class_id else "no-name",
                )
                continue
            school = constants.get("school") or ctx.ident(cols.get(cells, "school"))
            if school and school not in self.schools:
                self.schools[school] = SchoolRecord(school, school, file, line, cols.name("school"))
            self.roster.classes.append(
                ClassRecord(class_id, school or None, title, code or None, (), file, line)
            )
            for teacher in split_ids(cols.get(cells, "teacher_id")):
                self.members.append((class_id, ctx.ident(teacher), "teacher", file, line))

    def read_memberships(self, table: Table, mapping: Mapping[str, str]) -> None:
        """Read a class memberships file: class id, person id, role (optional)."""
        opened = self._mapped(table, mapping, MEMBERSHIP_ALIASES, ("class_id", "person_id"))
        if opened is None:
            return
        cols, constants = opened
        # Only a memberships file lists every class place (a classes file only teachers).
        self.roster.modes["enrollments"] = "bulk"
        for line, cells in table.rows():
            class_id = self.ctx.ident(cols.get(cells, "class_id"))
            person = self.ctx.ident(cols.get(cells, "person_id"))
            if not class_id or not person:
                missing = "class_id" if not class_id else "person_id"
                self.log.error(
                    table.file,
                    line,
                    cols.name(missing),
                    f"{cols.name(missing)} is empty; the row was skipped.",
                    kind="no-id",
                )
                continue
            role = constants.get("role") or cols.get(cells, "role")
            self.members.append((class_id, person, role, table.file, line))

    def _resolve(self) -> dict[str, str]:
        """Map ids, usernames and emails (identity keys) to sourced ids."""
        keys: dict[str, str] = {}
        for person in self.people.people:
            for value in (person.email, person.username):
                if value:
                    keys.setdefault(identity_key(value), person.sourced_id)
        for person in self.people.people:
            keys[identity_key(person.sourced_id)] = person.sourced_id
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
            person = keys.get(identity_key(ref))
            if class_id not in classes and not earlier_classes:
                self.log.warning(
                    file,
                    line,
                    None,
                    f"Class '{class_id}' is not in the classes file; the place was not added.",
                    kind="dangling-class",
                )
                continue
            if person is None:
                # Perhaps someone imported earlier: the planner matches by SIS id.
                said = self._class_role(word, None) or "student"
                self.roster.enrollments.append(
                    EnrollmentRecord(class_id, ref, said, False, file, line)
                )
                continue
            role = self._class_role(word, self.people.role_of(person))
            if role is None:
                self.log.warning(
                    file,
                    line,
                    None,
                    f"'{ref}' is a {self.people.role_of(person)}; only students and teachers "
                    "are placed in classes.",
                    kind="pairing",
                )
                continue
            primary = role == "teacher" and class_id not in first_teacher
            if primary:
                first_teacher.add(class_id)
            self.roster.enrollments.append(
                EnrollmentRecord(class_id, person, role, primary, file, line)
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


CHILD_FIELDS = ("linked_student", "linked_student_2", "linked_student_3")


def split_ids(value: str) -> list[str]:
    """Split a cell that may hold several ids ("S1, S2" or "S1;S2")."""
    return [part.strip() for part in re.split(r"[,;|]", value) if part.strip()]


def read_spreadsheet(files: FileSet, ctx: ReadContext, mapping: Mapping[str, Any] | None) -> Roster:
    """Read a spreadsheet upload; it is not a complete roster unless the caller says so."""
    return SpreadsheetReader(files, ctx, mapping).read()
