"""Read OneRoster 1.1 and 1.2 CSV bundles."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from webapp.roster.columns import Columns
from webapp.roster.context import FileSet, ReadContext, map_role, split_list
from webapp.roster.decode import Table
from webapp.roster.normalise import NAME_LIMIT
from webapp.roster.orgs import OrgTree
from webapp.roster.records import (
    ClassRecord,
    EnrollmentRecord,
    GuardianRecord,
    Mode,
    PersonRecord,
    Role,
    Roster,
    Status,
)

ENTITIES = ("orgs", "users", "roles", "classes", "enrollments")
_ENROL_ROLES: dict[str, Literal["student", "teacher"]] = {
    "student": "student",
    "teacher": "teacher",
}
_USER_ID = re.compile(r"\{[^{}:]+:[^{}]*\}")
_ISO_STAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?"
)
_STATUS_FIELDS = {"status": (), "dateLastModified": ("dataLastModified",)}

ORG_FIELDS = {
    "sourcedId": (),
    **_STATUS_FIELDS,
    "name": (),
    "type": (),
    "identifier": (),
    "parentSourcedId": (),
}
USER_FIELDS = {
    "sourcedId": (),
    **_STATUS_FIELDS,
    "enabledUser": (),
    "orgSourcedIds": ("orgSourcedId",),
    "role": (),
    "username": (),
    "userIds": ("userId",),
    "givenName": (),
    "familyName": (),
    "middleName": (),
    "identifier": (),
    "email": (),
    "sms": (),
    "phone": (),
    "agentSourcedIds": ("agents", "agentSourcedId"),
    "grades": ("grade",),
    "password": (),
    "preferredGivenName": ("prefferedGivenName",),
    "preferredMiddleName": ("prefferedMiddleName",),
    "preferredFamilyName": ("prefferedFamilyName",),
    "primaryOrgSourcedId": (),
}
# The users.csv fields read_users() takes from each row, in the order it unpacks them.
_USER_KEYS = (
    "sourcedId",
    "status",
    "dateLastModified",
    "role",
    "orgSourcedIds",
    "preferredGivenName",
    "givenName",
    "preferredFamilyName",
    "familyName",
    "preferredMiddleName",
    "middleName",
    "grades",
    "identifier",
    "userIds",
    "agentSourcedIds",
    "username",
    "email",
    "sms",
    "phone",
    "enabledUser",
    "password",
    "primaryOrgSourcedId",
)
USER_PASSTHROUGH = ("userMasterIdentifier", "resourceSourcedIds", "pronouns")
ROLE_FIELDS = {
    "sourcedId": (),
    **_STATUS_FIELDS,
    "userSourcedId": (),
    "roleType": (),
    "role": (),
    "beginDate": (),
    "endDate": (),
    "orgSourcedId": (),
    "userProfileSourcedId": (),
}
CLASS_FIELDS = {
    "sourcedId": (),
    **_STATUS_FIELDS,
    "title": (),
    "grades": ("grade",),
    "courseSourcedId": (),
    "classCode": (),
    "classType": (),
    "location": (),
    "schoolSourcedId": (),
    "termSourcedIds": (),
    "subjects": (),
    "subjectCodes": (),
    "periods": (),
}
ENROLLMENT_FIELDS = {
    "sourcedId": (),
    **_STATUS_FIELDS,
    "classSourcedId": (),
    "schoolSourcedId": (),
    "userSourcedId": (),
    "role": (),
    "primary": (),
    "beginDate": (),
    "endDate": (),
}


@dataclass(slots=True)
class _Roles:
    """What roles.csv (1.2) says about one user."""

    primary: list[tuple[Role, str, int]] = field(default_factory=list)
    secondary: list[tuple[Role, str, int]] = field(default_factory=list)
    orgs: list[str] = field(default_factory=list)


class OneRosterReader:
    """Read one OneRoster bundle into a Roster."""

    def __init__(self, files: FileSet, ctx: ReadContext, version: str | None = None) -> None:
        self.files = files
        self.ctx = ctx
        self.log = ctx.log
        self.version = version
        self.modes: dict[str, Mode] = {}
        self.tree = OrgTree(ctx.log)
        self.roles: dict[str, _Roles] = {}
        self.roles_file = "roles.csv"
        self.person_roles: dict[str, Role | None] = {}
        self.parent_like: set[str] = set()
        # Users whose role is a relationship word for someone who is not a guardian
        # ("sibling"): listed once where their role is, then left out quietly.
        self.left_out: set[str] = set()
        self.agents: list[tuple[str, str, str, int]] = []
        self.class_ids: set[str] = set()
        self.roster = Roster(format="oneroster-1.1")

    # Manifest ------------------------------------------------------------

    def read_manifest(self) -> None:
        """Read manifest.csv: the version and each file's bulk/delta/absent mode."""
        found = self.files.get("manifest.csv")
        table = self.ctx.open(*found) if found else None
        manifest_version = ""
        if table is not None:
            cols = Columns(table, {"propertyName": (), "value": ()}, ("propertyName",), self.log)
            if cols.ok:
                for line, cells in table.rows():
                    key = cols.get(cells, "propertyName")
                    value = cols.get(cells, "value")
                    if key.casefold() == "oneroster.version":
                        manifest_version = value
                    elif key.casefold().startswith("file."):
                        self._manifest_mode(table, line, key[5:], value)
        elif found is None:
            self.log.warning(
                "manifest.csv",
                None,
                None,
                "The bundle has no manifest.csv, so every file was read as a delta and "
                "nobody will be deactivated. Export the full bundle to sync removals.",
            )
        if self.version is None:
            if manifest_version.startswith("1.2"):
                self.version = "1.2"
            elif manifest_version.startswith(("1.1", "1.0")):
                self.version = "1.1"
            else:
                self.version = "1.2" if self.files.get("roles.csv") else "1.1"
                if table is not None:
                    self.log.warning(
                        table.file,
                        None,
                        "oneroster.version",
                        f"oneroster.version is '{manifest_version}'; read as OneRoster "
                        f"{self.version}.",
                    )
        self.roster.format = f"oneroster-{self.version}"
        for entity in ENTITIES:
            if entity == "roles" and self.version != "1.2":
                continue
            present = self.files.get(f"{entity}.csv") is not None
            mode = self.modes.get(entity)
            if mode is None:
                if present:
                    self.modes[entity] = "delta"
                    if found is not None:
                        self.log.warning(
                            "manifest.csv",
                            None,
                            None,
                            f"The manifest does not list file.{entity}; {entity}.csv was read "
                            "as a delta (nothing removed for being absent).",
                        )
                else:
                    self.modes[entity] = "absent"
            elif mode == "absent" and present:
                self.log.note(f"{entity}.csv is ignored: the manifest says it is absent.")
            elif mode != "absent" and not present:
                severity = "error" if entity == "users" else "warning"
                self.log.add(
                    severity,
                    f"{entity}.csv",
                    None,
                    None,
                    f"The manifest says file.{entity} is {mode}, but {entity}.csv is not in "
                    "the upload. Add the file, or mark it absent in manifest.csv.",
                )
                self.modes[entity] = "absent"
        self.roster.modes = dict(self.modes)
        self.roster.complete = self.modes.get("users") == "bulk"

    def _manifest_mode(self, table: Table, line: int, entity: str, value: str) -> None:
        mode = value.strip().casefold()
        if mode in ("bulk", "delta", "absent"):
            self.modes[entity] = mode  # type: ignore[assignment]
            return
        present = self.files.get(f"{entity}.csv") is not None
        if entity in ENTITIES and present:
            self.modes[entity] = "delta"
            self.log.warning(
                table.file,
                line,
                "value",
                f"file.{entity} is '{value}', not bulk, delta or absent; {entity}.csv was read "
                "as a delta (nothing removed for being absent).",
            )
        else:
            self.modes[entity] = "absent"
            if not mode:
                self.log.note(f"manifest.csv: file.{entity} has no mode; treated as absent.")

    # Helpers -------------------------------------------------------------

    def _open(
        self,
        entity: str,
        fields: Mapping[str, Sequence[str]],
        required: tuple[str, ...],
        passthrough: Sequence[str] = (),
    ) -> tuple[Table, Columns] | None:
        if self.modes.get(entity, "absent") == "absent":
            return None
        found = self.files.get(f"{entity}.csv")
        if found is None:
            return None
        table = self.ctx.open(*found)
        if table is None:
            return None
        cols = Columns(table, fields, required, self.log, passthrough=passthrough)
        return (table, cols) if cols.ok else None

    def _status(
        self, entity: str, cols: Columns, cells: list[str], file: str, line: int
    ) -> tuple[Status | None, bool]:
        """Return (status, ok) for a row, warning about bulk/delta oddities."""
        return self._status_value(
            entity, cols.get(cells, "status"), cols.name("status"), file, line
        )

    def _status_value(
        self, entity: str, raw: str, column: str, file: str, line: int
    ) -> tuple[Status | None, bool]:
        """Return (status, ok) for a stripped status value; see _status()."""
        value = raw.casefold()
        mode = self.modes.get(entity)
        if not value:
            if mode == "delta":
                self.log.warning(
                    file,
                    line,
                    column,
                    "status is blank in a delta file; the row was read as active.",
                    kind="delta-blank-status",
                )
                return "active", True
            return None, True
        if value == "active":
            return "active", True
        if value in ("tobedeleted", "inactive", "deleted"):
            if value != "tobedeleted":
                self.log.warning(
                    file,
                    line,
                    column,
                    f"status '{raw}' is from OneRoster 1.0; read as tobedeleted.",
                    kind="old-status",
                )
            if mode == "bulk":
                self.log.warning(
                    file,
                    line,
                    column,
                    "tobedeleted inside a bulk file; the record will be removed "
                    "(deactivated for people). Check that this is intended.",
                    kind="bulk-tobedeleted",
                )
            return "tobedeleted", True
        self.log.error(
            file,
            line,
            column,
            f"status '{raw}' is not active or tobedeleted; the row was skipped.",
            kind="bad-status",
        )
        return None, False

    def _check_stamp(self, cols: Columns, cells: list[str], bad: list[int], line: int) -> None:
        stamp = cols.get(cells, "dateLastModified")
        if stamp and not _ISO_STAMP.fullmatch(stamp):
            bad.append(line)

    def _report_stamps(self, file: str, cols: Columns, bad: list[int]) -> None:
        if bad:
            lines = ", ".join(str(n) for n in bad[:10]) + (" ..." if len(bad) > 10 else "")
            self.log.warning(
                file,
                bad[0],
                cols.name("dateLastModified"),
                f"dateLastModified is not an ISO 8601 date (YYYY-MM-DD) on {len(bad)} "
                f"row(s) (lines {lines}); the value is not used for ordering.",
            )

    def _school(self, org_id: str, file: str, line: int, column: str) -> str | None:
        """Resolve an org reference to the school it belongs to (None: district-wide)."""
        return self.tree.school(org_id, file, line, column)

    # Files -----------------------------------------------------------------

    def read_orgs(self) -> None:
        """Read orgs.csv; schools are made once references are known."""
        self.tree.strict = self.modes.get("orgs") == "bulk"
        opened = self._open("orgs", ORG_FIELDS, ("sourcedId", "name", "type"))
        if opened is None:
            return
        table, cols = opened
        self.tree.file = table.file
        for line, cells in table.rows():
            sid = self.ctx.ident(cols.get(cells, "sourcedId"))
            if not sid:
                self.log.error(table.file, line, cols.name("sourcedId"), "sourcedId is empty.")
                continue
            status, ok = self._status("orgs", cols, cells, table.file, line)
            if not ok or status == "tobedeleted":
                continue
            name = self.ctx.text(cols.get(cells, "name"), table.file, line, cols.name("name"))
            parent = self.ctx.ident(cols.get(cells, "parentSourcedId"))
            self.tree.add(sid, name, cols.get(cells, "type"), parent, line)
        self.tree.check_parents(cols.name("parentSourcedId"))

    def read_roles(self) -> None:
        """Read 1.2 roles.csv: each user's primary role and their orgs."""
        opened = self._open("roles", ROLE_FIELDS, ("userSourcedId", "roleType", "role"))
        if opened is None:
            return
        table, cols = opened
        self.roles_file = table.file
        for line, cells in table.rows():
            user = self.ctx.ident(cols.get(cells, "userSourcedId"))
            status, ok = self._status("roles", cols, cells, table.file, line)
            if not user or not ok or status == "tobedeleted":
                continue
            raw_role = cols.get(cells, "role")
            role = self._role_word(raw_role, user, table.file, line, cols.name("role"))
            if role is None:
                if user not in self.left_out:
                    self.log.error(
                        table.file,
                        line,
                        cols.name("role"),
                        f"Role '{raw_role}' is not a OneRoster role; the row was skipped.",
                        kind="bad-role",
                    )
                continue
            info = self.roles.setdefault(user, _Roles())
            if cols.get(cells, "roleType").casefold() == "primary":
                info.primary.append((role, raw_role, line))
            else:
                info.secondary.append((role, raw_role, line))
            if role == "parent":
                self.parent_like.add(user)
            org = self.ctx.ident(cols.get(cells, "orgSourcedId"))
            if org:
                school = self._school(org, table.file, line, cols.name("orgSourcedId"))
                if school and school not in info.orgs:
                    info.orgs.append(school)

    def _role_word(self, raw: str, sid: str, file: str, line: int, column: str) -> Role | None:
        """Map a role, reading relationship words ("grandparent", "sibling") as contacts."""
        role = map_role(raw)
        if role is not None:
            return role
        parent = self.ctx.contact_is_parent(
            raw, file, line, column, f"'{sid}'", unknown_is_contact=False
        )
        if parent is False:
            self.left_out.add(sid)
        return "parent" if parent else None

    def _role_12(self, sid: str, file: str, line: int) -> tuple[Role | None, bool]:
        """Return (role, ok) for a 1.2 user from roles.csv."""
        info = self.roles.get(sid)
        if info is None or not (info.primary or info.secondary):
            if self.modes.get("roles") == "bulk":
                self.log.error(
                    file,
                    line,
                    None,
                    f"User '{sid}' has no row in roles.csv, so their role is unknown; the user "
                    "was skipped. Add a primary role for them.",
                    kind="no-role",
                )
                return None, False
            return None, True
        if info.primary:
            roles = {role for role, _, _ in info.primary}
            if len(roles) > 1:
                self.log.warning(
                    self.roles_file,
                    info.primary[1][2],
                    "roleType",
                    f"User '{sid}' has more than one primary role; the first "
                    f"('{info.primary[0][1]}') was used.",
                )
            return info.primary[0][0], True
        role, raw, role_line = info.secondary[0]
        self.log.warning(
            self.roles_file,
            role_line,
            "roleType",
            f"User '{sid}' has no primary role; their first secondary role ('{raw}') was "
            f"used, making them {role}. Mark one role as primary.",
        )
        return role, True

    def read_users(self) -> None:
        """Read users.csv into PersonRecords and remember agent links.

        This loop runs once per person (50,000 in a district), so it resolves
        column positions once, reads a row's values with one call, and skips the
        cleaning helpers for values that are already clean; anything unusual goes
        through the same helpers, and the same warnings, as before.
        """
        required = ("sourcedId", "givenName", "familyName")
        if self.version == "1.1":
            required += ("role",)
        opened = self._open("users", USER_FIELDS, required, passthrough=USER_PASSTHROUGH)
        if opened is None:
            return
        table, cols = opened
        ctx, log, file = self.ctx, self.log, table.file
        bad_stamps: list[int] = []
        people = self.roster.people
        agents = self.agents
        person_roles = self.person_roles
        v11 = self.version == "1.1"
        delta = self.modes.get("users") == "delta"
        pick = cols.picker(_USER_KEYS)
        n_sid, n_status, n_role, n_orgs = (
            cols.name(k) for k in ("sourcedId", "status", "role", "orgSourcedIds")
        )
        n_given, n_family, n_middle, n_grades, n_identifier, n_user_ids = (
            cols.name(k)
            for k in ("givenName", "familyName", "middleName", "grades", "identifier", "userIds")
        )
        n_p_given, n_p_family = cols.name("preferredGivenName"), cols.name("preferredFamilyName")
        n_email, n_phone, n_enabled, n_primary_org = (
            cols.name(k) for k in ("email", "phone", "enabledUser", "primaryOrgSourcedId")
        )
        # Org lists repeat on most rows ("sch-1"); cache those whose orgs all resolve
        # (an unknown org warns on every row, with that row's line).
        org_cache: dict[str, tuple[str, ...]] = {}
        orgs_known = self.tree.orgs
        intern = sys.intern
        text, ident = ctx.text, ctx.ident
        for line, cells in table.rows():
            (
                sid,
                status_raw,
                stamp,
                raw_role,
                org_ids,
                p_given,
                given,
                p_family,
                family,
                p_middle,
                middle,
                grades_raw,
                identifier,
                user_ids,
                agent_ids,
                username,
                email,
                sms,
                phone,
                enabled_raw,
                password,
                primary_org_raw,
            ) = pick(cells)
            # One check for the whole row: printable ASCII needs no cleaning beyond strip().
            joined = "".join(cells)
            plain = joined.isascii() and joined.isprintable()
            sid = intern(sid.strip()) if plain else ident(sid.strip())
            if not sid:
                log.error(file, line, n_sid, "sourcedId is empty; the row was skipped.")
                continue
            status_raw = status_raw.strip()
            if not status_raw and not delta:
                status: Status | None = None
            elif status_raw == "active":
                status = "active"
            else:
                status, ok = self._status_value("users", status_raw, n_status, file, line)
                if not ok:
                    continue
            stamp = stamp.strip()
            if stamp and not _ISO_STAMP.fullmatch(stamp):
                bad_stamps.append(line)
            deleting = status == "tobedeleted"
            if v11:
                raw_role = raw_role.strip()
                role = map_role(raw_role)
                if role is None:
                    role = self._role_word(raw_role, sid, file, line, n_role)
                    if role is None and sid in self.left_out:
                        continue
                if role is None and not deleting:
                    log.error(
                        file,
                        line,
                        n_role,
                        f"Role '{raw_role}' is not a OneRoster role (student, teacher, parent, "
                        "guardian, relative, aide, proctor, administrator); the row was skipped.",
                        kind="bad-role",
                    )
                    continue
                if role == "parent":
                    self.parent_like.add(sid)
                org_ids = org_ids.strip()
                school_ids = org_cache.get(org_ids)
                if school_ids is None:
                    refs = split_list(org_ids)
                    school_ids = ctx.ids(
                        tuple(s for o in refs if (s := self._school(o, file, line, n_orgs)))
                    )
                    if all(o in orgs_known for o in refs):
                        org_cache[org_ids] = school_ids
            elif sid in self.left_out and sid not in self.roles:
                continue
            else:
                role, ok = self._role_12(sid, file, line)
                if not ok and not deleting:
                    continue
                info = self.roles.get(sid)
                orgs = list(info.orgs) if info else []
                primary_org = ident(primary_org_raw.strip())
                if primary_org:
                    school = self._school(primary_org, file, line, n_primary_org)
                    if school and school not in orgs:
                        orgs.insert(0, school)
                school_ids = ctx.ids(tuple(orgs))
            given = p_given.strip() or given.strip()
            family = p_family.strip() or family.strip()
            ctx.check_name(given, file, line, n_p_given if p_given.strip() else n_given)
            ctx.check_name(family, file, line, n_p_family if p_family.strip() else n_family)
            if not plain or "  " in given or len(given) > NAME_LIMIT:
                given = text(given, file, line, n_given)
            if not plain or "  " in family or len(family) > NAME_LIMIT:
                family = text(family, file, line, n_family)
            if not deleting and not (given and family):
                missing = n_given if not given else n_family
                log.error(
                    file, line, missing, f"{missing} is empty; the row was skipped.", kind="no-name"
                )
                continue
            middle = p_middle.strip() or middle.strip()
            grade = None
            number = None
            if role == "student":
                grades_raw = grades_raw.strip()
                if grades_raw:
                    if plain and "," not in grades_raw:
                        grade = ctx.grade(grades_raw, file, line, n_grades)
                    else:
                        grades = split_list(grades_raw)
                        if grades:
                            grade = ctx.grade(grades[0], file, line, n_grades)
                identifier = identifier.strip()
                if identifier:
                    number = ctx.student_number(identifier, file, line, n_identifier)
            user_ids = user_ids.strip()
            if user_ids and not all(_USER_ID.fullmatch(u) for u in _split_user_ids(user_ids)):
                log.warning(
                    file,
                    line,
                    n_user_ids,
                    f"userIds '{user_ids[:60]}' is not in the {{type:id}} form; it was ignored.",
                    kind="bad-userids",
                )
            agent_ids = agent_ids.strip()
            if agent_ids:
                for agent in split_list(agent_ids):
                    agents.append((sid, agent, file, line))
            person_roles[sid] = role
            username = username.strip()
            if username:
                username = (intern(username) if plain else ident(username)) or None
            # The checks below warn in the order the fields appear in the record.
            email = email.strip()
            if email:
                email = ctx.email(email, file, line, n_email)
            sms, phone = sms.strip(), phone.strip()
            phone = ctx.phone([sms, phone], file, line, n_phone) if sms or phone else None
            enabled_raw = enabled_raw.strip()
            if enabled_raw == "true":
                enabled = True
            else:
                enabled = ctx.flag(enabled_raw, file, line, n_enabled, True)
            if middle:
                ctx.check_name(middle, file, line, n_middle)
            if middle and (not plain or "  " in middle or len(middle) > NAME_LIMIT):
                middle = text(middle, file, line, n_middle)
            people.append(
                PersonRecord(
                    sid,
                    role,
                    given,
                    family,
                    file,
                    line,
                    username or None,
                    email or None,
                    phone,
                    grade,
                    number,
                    school_ids,
                    status,
                    enabled,
                    password.strip() or None,
                    middle or None,
                )
            )
        self._report_stamps(file, cols, bad_stamps)
        if table.row_count == 0:
            self.log.error(
                file,
                None,
                None,
                "users.csv has a header but no users. Export the users again; an empty file "
                "is never read as 'remove everyone'.",
            )
        if self.version == "1.2" and self.modes.get("users") == "bulk":
            for sid, info in self.roles.items():
                if sid not in self.person_roles:
                    line = (info.primary or info.secondary)[0][2]
                    self.log.warning(
                        self.roles_file,
                        line,
                        "userSourcedId",
                        f"User '{sid}' has a role but is not in users.csv; the role was ignored.",
                        kind="dangling-user",
                    )

    def read_classes(self) -> None:
        """Read classes.csv."""
        opened = self._open("classes", CLASS_FIELDS, ("sourcedId", "title", "schoolSourcedId"))
        if opened is None:
            return
        table, cols = opened
        ctx, file = self.ctx, table.file
        for line, cells in table.rows():
            sid = ctx.ident(cols.get(cells, "sourcedId"))
            if not sid:
                self.log.error(
                    file, line, cols.name("sourcedId"), "sourcedId is empty; the row was skipped."
                )
                continue
            status, ok = self._status("classes", cols, cells, file, line)
            if not ok:
                continue
            title = ctx.text(cols.get(cells, "title"), file, line, cols.name("title"), limit=200)
            school_ref = ctx.ident(cols.get(cells, "schoolSourcedId"))
            school = (
                self._school(school_ref, file, line, cols.name("schoolSourcedId"))
                if school_ref
                else None
            )
            grades = tuple(
                g
                for raw in split_list(cols.get(cells, "grades"))
                if (g := ctx.grade(raw, file, line, cols.name("grades")))
            )
            self.class_ids.add(sid)
            self.roster.classes.append(
                ClassRecord(
                    sourced_id=sid,
                    school_id=school,
                    title=title or sid,
                    class_code=ctx.text(
                        cols.get(cells, "classCode"), file, line, cols.name("classCode")
                    )
                    or None,
                    grades=ctx.ids(grades),
                    file=file,
                    line=line,
                    status=status,
                )
            )

    def read_enrollments(self) -> None:
        """Read enrollments.csv (students and teachers only)."""
        opened = self._open(
            "enrollments", ENROLLMENT_FIELDS, ("classSourcedId", "userSourcedId", "role")
        )
        if opened is None:
            return
        table, cols = opened
        ctx, file = self.ctx, table.file
        check_classes = self.modes.get("classes") == "bulk"
        check_users = self.modes.get("users") == "bulk"
        delta = self.modes.get("enrollments") == "delta"
        n_status, n_primary = cols.name("status"), cols.name("primary")
        pick = cols.picker(
            ("sourcedId", "status", "classSourcedId", "userSourcedId", "role", "primary")
        )
        intern, ident = sys.intern, ctx.ident
        enrollments = self.roster.enrollments
        # hash(sourcedId) -> index in enrollments: a repeated id must name the same class,
        # user and role. Hashes, not the ids, so 300,000 id strings need not stay alive.
        by_id: dict[int, int] = {}
        # Like read_users(): positions resolved once, clean values taken as they are.
        for line, cells in table.rows():
            enrol_id, status_raw, class_id, user_id, raw_role, primary_raw = pick(cells)
            status_raw = status_raw.strip()
            if not status_raw and not delta:
                status: Status | None = None
            elif status_raw == "active":
                status = "active"
            else:
                status, ok = self._status_value("enrollments", status_raw, n_status, file, line)
                if not ok:
                    continue
            class_id, user_id = class_id.strip(), user_id.strip()
            if class_id.isascii() and class_id.isprintable():
                class_id = intern(class_id)
            else:
                class_id = ident(class_id)
            if user_id.isascii() and user_id.isprintable():
                user_id = intern(user_id)
            else:
                user_id = ident(user_id)
            raw_role = raw_role.strip()
            # Shared constants: a fresh "student" string per row costs megabytes.
            role = _ENROL_ROLES.get(raw_role) or _ENROL_ROLES.get(raw_role.casefold())
            if not class_id or not user_id:
                self.log.error(
                    file,
                    line,
                    None,
                    "classSourcedId or userSourcedId is empty; the row was skipped.",
                )
                continue
            if role is None:
                self.log.warning(
                    file,
                    line,
                    cols.name("role"),
                    f"Enrollment role '{raw_role}' is not student or teacher; Keyslip enrols "
                    "only students and teachers, so the row was skipped.",
                    kind="enrol-role",
                )
                continue
            if check_classes and class_id not in self.class_ids:
                self.log.warning(
                    file,
                    line,
                    cols.name("classSourcedId"),
                    f"Class '{class_id}' is not in classes.csv; the enrollment was skipped.",
                    kind="dangling-class",
                )
                continue
            if check_users and user_id not in self.person_roles:
                self.log.warning(
                    file,
                    line,
                    cols.name("userSourcedId"),
                    f"User '{user_id}' is not in users.csv; the enrollment was skipped.",
                    kind="dangling-user",
                )
                continue
            person_role = self.person_roles.get(user_id)
            if person_role and person_role != role and status != "tobedeleted":
                self.log.warning(
                    file,
                    line,
                    cols.name("role"),
                    f"User '{user_id}' is a {person_role} but is enrolled as a {role}; the "
                    "enrollment was kept as written.",
                    kind="enrol-mismatch",
                )
            primary_raw = primary_raw.strip()
            if primary_raw == "false":
                primary = False
            elif primary_raw == "true":
                primary = True
            else:
                primary = ctx.flag(primary_raw, file, line, n_primary, False)
            enrol_id = enrol_id.strip()
            if enrol_id:
                key = hash(enrol_id)
                first = by_id.get(key)
                if first is None:
                    by_id[key] = len(enrollments)
                elif (
                    enrollments[first].class_id,
                    enrollments[first].user_id,
                    enrollments[first].role,
                ) != (class_id, user_id, role):
                    self.log.error(
                        file,
                        line,
                        cols.name("sourcedId"),
                        f"Enrollment '{ident(enrol_id)}' is listed again (first on line "
                        f"{enrollments[first].line}) with a different class, user or role; "
                        "only the first was kept. Give each enrollment its own sourcedId.",
                        kind="conflict-enrollment-id",
                    )
                    continue
            enrollments.append(
                EnrollmentRecord(class_id, user_id, role, primary, file, line, status)
            )

    def link_agents(self) -> None:
        """Turn agentSourcedIds, in either direction, into student-parent links."""
        roles = self.person_roles
        for sid, agent, file, line in self.agents:
            if agent not in roles and agent in self.left_out:
                continue
            if agent not in roles:
                self.log.warning(
                    file,
                    line,
                    "agentSourcedIds",
                    f"Agent '{agent}' of '{sid}' is not in users.csv; no link was made.",
                    kind="dangling-agent",
                )
                continue
            pair = {roles[sid], roles[agent]}
            if pair == {"student", "parent"}:
                student, parent = (sid, agent) if roles[sid] == "student" else (agent, sid)
                self.roster.guardians.append(GuardianRecord(parent, student, file, line))
                continue
            extra = ""
            for who in (sid, agent):
                if who in self.parent_like and roles[who] != "parent":
                    extra = (
                        f" ('{who}' also has a guardian role, but Keyslip gives each account "
                        f"one role and theirs is {roles[who]})"
                    )
            self.log.warning(
                file,
                line,
                "agentSourcedIds",
                f"'{sid}' ({roles[sid] or 'role unknown'}) lists '{agent}' "
                f"({roles[agent] or 'role unknown'}) as an agent; only a parent and a student "
                f"can be linked, so no link was made{extra}.",
                kind="agent-pairing",
            )

    def make_schools(self) -> None:
        """Make SchoolRecords for school orgs and departments used as schools."""
        self.roster.schools.extend(self.tree.schools())

    def read(self) -> Roster:
        """Read the whole bundle."""
        self.read_manifest()
        self.read_orgs()
        if self.version == "1.2":
            self.read_roles()
        self.read_users()
        self.read_classes()
        self.read_enrollments()
        self.link_agents()
        self.make_schools()
        ignored = sorted(
            name
            for name in self.files.names()
            if name.casefold().removesuffix(".csv") not in {e.casefold() for e in ENTITIES}
            and name.casefold() != "manifest.csv"
        )
        if ignored:
            self.log.note(f"Not needed for logins, so not read: {', '.join(ignored)}.")
        return self.roster


def _split_user_ids(value: str) -> list[str]:
    """Split "{LDAP:12},{LTI:15}" into its {type:id} items."""
    return [item.strip() for item in re.split(r",(?=\s*\{)", value) if item.strip()]


def read_oneroster(files: FileSet, ctx: ReadContext, version: str | None = None) -> Roster:
    """Read a OneRoster 1.1 or 1.2 CSV bundle (version None: from the manifest)."""
    return OneRosterReader(files, ctx, version).read()
