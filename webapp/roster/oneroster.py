"""Read OneRoster 1.1 and 1.2 CSV bundles."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Literal

from webapp.roster.context import FileSet, ReadContext, map_role, split_list
from webapp.roster.core import Col, FileSpec, Row, Sheet, cols, match_sheet, open_sheet, person
from webapp.roster.orgs import OrgTree
from webapp.roster.records import (
    ClassRecord,
    EnrollmentRecord,
    GuardianRecord,
    Mode,
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
_STATUS = (("status", "status", "raw"), ("stamp", "dateLastModified", "skip", "dataLastModified"))

MANIFEST = FileSpec(
    "manifest.csv",
    cols(("property", "propertyName", "raw"), ("value", "value", "raw")),
    required=("property",),
)
ORGS = FileSpec(
    "orgs.csv",
    cols(
        ("sid", "sourcedId", "raw"),
        *_STATUS,
        ("name", "name", "text"),
        ("type", "type", "raw"),
        ("identifier", "identifier", "skip"),
        ("parent", "parentSourcedId", "id"),
    ),
    required=("sid", "name", "type"),
)
USERS = FileSpec(
    "users.csv",
    (
        *cols(
            ("sid", "sourcedId", "raw"),
            ("status", "status", "raw"),
            ("stamp", "dateLastModified", "raw", "dataLastModified"),
        ),
        Col("enabled", "enabledUser", clean="flag", default=True),
        *cols(
            ("orgs", "orgSourcedIds", "raw", "orgSourcedId"),
            ("role", "role", "raw"),
            ("username", "username", "id"),
            ("user_ids", "userIds", "raw", "userId"),
            ("given", "givenName", "raw"),
            ("family", "familyName", "raw"),
            ("middle", "middleName", "name"),
            ("number", "identifier", "number"),
            ("email", "email", "email"),
            ("sms", "sms", "raw"),
            ("phone", "phone", "raw"),
            ("agents", "agentSourcedIds", "ids", "agents", "agentSourcedId"),
            ("grade", "grades", "first_grade", "grade"),
            ("password", "password", "raw"),
            ("preferred_given", "preferredGivenName", "raw", "prefferedGivenName"),
            ("preferred_middle", "preferredMiddleName", "raw", "prefferedMiddleName"),
            ("preferred_family", "preferredFamilyName", "raw", "prefferedFamilyName"),
            ("primary_org", "primaryOrgSourcedId", "id"),
        ),
    ),
    required=("sid", "given", "family"),
    passthrough=("userMasterIdentifier", "resourceSourcedIds", "pronouns"),
)
ROLES = FileSpec(
    "roles.csv",
    cols(
        ("sid", "sourcedId", "skip"),
        *_STATUS,
        ("user", "userSourcedId", "id"),
        ("role_type", "roleType", "raw"),
        ("role", "role", "raw"),
        ("begin", "beginDate", "skip"),
        ("end", "endDate", "skip"),
        ("org", "orgSourcedId", "id"),
        ("profile", "userProfileSourcedId", "skip"),
    ),
    required=("user", "role_type", "role"),
)
CLASSES = FileSpec(
    "classes.csv",
    (
        *cols(("sid", "sourcedId", "id"), *_STATUS),
        Col("title", "title", clean="text", limit=200),
        *cols(
            ("grades", "grades", "grades", "grade"),
            ("course", "courseSourcedId", "skip"),
            ("code", "classCode", "text"),
            ("class_type", "classType", "skip"),
            ("location", "location", "skip"),
            ("school", "schoolSourcedId", "id"),
            ("terms", "termSourcedIds", "skip"),
            ("subjects", "subjects", "skip"),
            ("subject_codes", "subjectCodes", "skip"),
            ("periods", "periods", "skip"),
        ),
    ),
    required=("sid", "title", "school"),
)
ENROLLMENTS = FileSpec(
    "enrollments.csv",
    cols(
        ("sid", "sourcedId", "raw"),
        *_STATUS,
        ("class", "classSourcedId", "id"),
        ("school", "schoolSourcedId", "skip"),
        ("user", "userSourcedId", "id"),
        ("role", "role", "raw"),
        ("primary", "primary", "flag"),
        ("begin", "beginDate", "skip"),
        ("end", "endDate", "skip"),
    ),
    required=("class", "user", "role"),
)
SPECS = {"orgs": ORGS, "users": USERS, "roles": ROLES, "classes": CLASSES}
SPECS["enrollments"] = ENROLLMENTS


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
        self.org_cache: dict[str, tuple[str, ...]] = {}
        self.roster = Roster(format="oneroster-1.1")

    # Manifest ------------------------------------------------------------

    def read_manifest(self) -> None:
        """Read manifest.csv: the version and each file's bulk/delta/absent mode."""
        found = self.files.get("manifest.csv")
        table = self.ctx.open(*found) if found else None
        manifest_version = ""
        sheet = match_sheet(table, MANIFEST, self.ctx) if table is not None else None
        for row in sheet.rows() if sheet is not None else ():
            key, value = row.raw("property"), row.raw("value")
            if key.casefold() == "oneroster.version":
                manifest_version = value
            elif key.casefold().startswith("file."):
                self._manifest_mode(row, key[5:], value)
        if found is None:
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

    def _manifest_mode(self, row: Row, entity: str, value: str) -> None:
        mode = value.strip().casefold()
        if mode in ("bulk", "delta", "absent"):
            self.modes[entity] = mode  # type: ignore[assignment]
            return
        present = self.files.get(f"{entity}.csv") is not None
        if entity in ENTITIES and present:
            self.modes[entity] = "delta"
            row.warning(
                "value",
                f"file.{entity} is '{value}', not bulk, delta or absent; {entity}.csv was read "
                "as a delta (nothing removed for being absent).",
            )
        else:
            self.modes[entity] = "absent"
            if not mode:
                self.log.note(f"manifest.csv: file.{entity} has no mode; treated as absent.")

    # Helpers -------------------------------------------------------------

    def _open(self, entity: str, spec: FileSpec | None = None) -> Sheet | None:
        if self.modes.get(entity, "absent") == "absent":
            return None
        return open_sheet(self.files, self.ctx, spec or SPECS[entity])

    def _plain_statuses(self, entity: str) -> dict[str, tuple[Status | None, bool]]:
        """Return what _status() says, without a warning, for the statuses most rows have."""
        plain: dict[str, tuple[Status | None, bool]] = {"active": ("active", True)}
        if self.modes.get(entity) != "delta":
            plain[""] = (None, True)
        return plain

    def _status(self, entity: str, row: Row) -> tuple[Status | None, bool]:
        """Return (status, ok) for a row, warning about bulk/delta oddities."""
        raw = row.values["status"]
        mode = self.modes.get(entity)
        if raw == "active":
            return "active", True
        value = raw.casefold()
        if not value:
            if mode == "delta":
                row.warning(
                    "status",
                    "status is blank in a delta file; the row was read as active.",
                    kind="delta-blank-status",
                )
                return "active", True
            return None, True
        if value == "active":
            return "active", True
        if value in ("tobedeleted", "inactive", "deleted"):
            if value != "tobedeleted":
                row.warning(
                    "status",
                    f"status '{raw}' is from OneRoster 1.0; read as tobedeleted.",
                    kind="old-status",
                )
            if mode == "bulk":
                row.warning(
                    "status",
                    "tobedeleted inside a bulk file; the record will be removed "
                    "(deactivated for people). Check that this is intended.",
                    kind="bulk-tobedeleted",
                )
            return "tobedeleted", True
        row.error(
            "status",
            f"status '{raw}' is not active or tobedeleted; the row was skipped.",
            kind="bad-status",
        )
        return None, False

    def _report_stamps(self, sheet: Sheet, bad: list[int]) -> None:
        """Warn once about the rows whose dateLastModified is not in ISO 8601."""
        if bad:
            lines = ", ".join(str(n) for n in bad[:10]) + (" ..." if len(bad) > 10 else "")
            self.log.warning(
                sheet.file,
                bad[0],
                sheet.column("stamp"),
                f"dateLastModified is not an ISO 8601 date (YYYY-MM-DD) on {len(bad)} "
                f"row(s) (lines {lines}); the value is not used for ordering.",
            )

    def _school(self, row: Row, field: str) -> str | None:
        """Resolve an org reference to the school it belongs to (None: none or district-wide)."""
        org = row[field]
        return self.tree.school(org, row.file, row.line, row.column(field)) if org else None

    # Files -----------------------------------------------------------------

    def read_orgs(self) -> None:
        """Read orgs.csv; schools are made once references are known."""
        self.tree.strict = self.modes.get("orgs") == "bulk"
        sheet = self._open("orgs")
        if sheet is None:
            return
        self.tree.file = sheet.file
        for row in sheet.rows():
            sid = row.id("sid", skipped=False)
            if not sid:
                continue
            status, ok = self._status("orgs", row)
            if not ok or status == "tobedeleted":
                continue
            self.tree.add(sid, row["name"], row.raw("type"), row["parent"], row.line)
        self.tree.check_parents(sheet.column("parent"))

    def read_roles(self) -> None:
        """Read 1.2 roles.csv: each user's primary role and their orgs."""
        sheet = self._open("roles")
        if sheet is None:
            return
        self.roles_file = sheet.file
        for row in sheet.rows():
            user = row["user"]
            status, ok = self._status("roles", row)
            if not user or not ok or status == "tobedeleted":
                continue
            raw_role = row.values["role"]
            role = self._role_word(raw_role, user, row)
            if role is None:
                if user not in self.left_out:
                    row.error(
                        "role",
                        f"Role '{raw_role}' is not a OneRoster role; the row was skipped.",
                        kind="bad-role",
                    )
                continue
            info = self.roles.setdefault(user, _Roles())
            primary = row.raw("role_type").casefold() == "primary"
            (info.primary if primary else info.secondary).append((role, raw_role, row.line))
            if role == "parent":
                self.parent_like.add(user)
            school = self._school(row, "org")
            if school and school not in info.orgs:
                info.orgs.append(school)

    def _role_word(self, raw: str, sid: str, row: Row) -> Role | None:
        """Map a role, reading relationship words ("grandparent", "sibling") as contacts."""
        role = map_role(raw)
        if role is not None:
            return role
        parent = self.ctx.contact_is_parent(
            raw, row.file, row.line, row.column("role"), f"'{sid}'", unknown_is_contact=False
        )
        if parent is False:
            self.left_out.add(sid)
        return "parent" if parent else None

    def _role_12(self, sid: str, row: Row) -> tuple[Role | None, bool]:
        """Return (role, ok) for a 1.2 user from roles.csv."""
        info = self.roles.get(sid)
        if info is None or not (info.primary or info.secondary):
            if self.modes.get("roles") == "bulk":
                row.error(
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

    def _role_11(self, sid: str, row: Row, deleting: bool) -> tuple[Role | None, bool]:
        """Return (role, ok) for a 1.1 user from their role column."""
        raw_role = row.values["role"]
        role = map_role(raw_role)
        if role is None:
            role = self._role_word(raw_role, sid, row)
            if role is None and sid in self.left_out:
                return None, False
        if role is None and not deleting:
            row.error(
                "role",
                f"Role '{raw_role}' is not a OneRoster role (student, teacher, parent, "
                "guardian, relative, aide, proctor, administrator); the row was skipped.",
                kind="bad-role",
            )
            return None, False
        if role == "parent":
            self.parent_like.add(sid)
        return role, True

    def _schools_11(self, row: Row) -> tuple[str, ...]:
        """Return the schools of a 1.1 user's orgSourcedIds."""
        org_ids = row.values["orgs"]
        schools = self.org_cache.get(org_ids)
        if schools is None:
            refs = split_list(org_ids)
            column = row.column("orgs")
            schools = tuple(
                s for o in refs if (s := self.tree.school(o, row.file, row.line, column))
            )
            # Org lists repeat on most rows ("sch-1"); cache those whose orgs all resolve
            # (an unknown org warns on every row, with that row's line).
            if all(o in self.tree.orgs for o in refs):
                self.org_cache[org_ids] = schools
        return schools

    def _schools_12(self, sid: str, row: Row) -> tuple[str, ...]:
        """Return the schools of a 1.2 user: roles.csv's orgs, primaryOrgSourcedId first."""
        info = self.roles.get(sid)
        orgs = list(info.orgs) if info else []
        school = self._school(row, "primary_org")
        if school and school not in orgs:
            orgs.insert(0, school)
        return tuple(orgs)

    def read_users(self) -> None:
        """Read users.csv into PersonRecords and remember agent links."""
        spec = USERS
        if self.version == "1.1":
            spec = replace(USERS, required=(*USERS.required, "role"))
        sheet = self._open("users", spec)
        if sheet is None:
            return
        people = self.roster.people
        fast = self._plain_statuses("users")
        bad_stamps: list[int] = []
        for row in sheet.rows():
            sid = row.id("sid")
            if not sid:
                continue
            values = row.values
            status, ok = fast.get(values["status"]) or self._status("users", row)
            if not ok:
                continue
            if values["stamp"] and not _ISO_STAMP.fullmatch(values["stamp"]):
                bad_stamps.append(row.line)
            deleting = status == "tobedeleted"
            if self.version == "1.1":
                role = map_role(values["role"])  # the common case, without a call
                if role is None or role == "parent":
                    role, ok = self._role_11(sid, row, deleting)
                    if not ok:
                        continue
                schools = self.org_cache.get(values["orgs"]) or self._schools_11(row)
            elif sid in self.left_out and sid not in self.roles:
                continue
            else:
                role, ok = self._role_12(sid, row)
                if not ok and not deleting:
                    continue
                schools = self._schools_12(sid, row)
            if values["user_ids"]:
                self._check_user_ids(row)
            enabled = values["enabled"] == "true" or row["enabled"]
            record = person(
                row, sid, role, schools=schools, status=status, enabled=enabled, named=not deleting
            )
            if record is None:
                continue
            if values["agents"]:
                for agent in row["agents"]:
                    self.agents.append((sid, agent, row.file, row.line))
            self.person_roles[sid] = role
            people.append(record)
        self._report_stamps(sheet, bad_stamps)
        if sheet.table.row_count == 0:
            self.log.error(
                sheet.file,
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

    def _check_user_ids(self, row: Row) -> None:
        user_ids = row.values["user_ids"]
        if user_ids and not all(_USER_ID.fullmatch(u) for u in _split_user_ids(user_ids)):
            row.warning(
                "user_ids",
                f"userIds '{user_ids[:60]}' is not in the {{type:id}} form; it was ignored.",
                kind="bad-userids",
            )

    def read_classes(self) -> None:
        """Read classes.csv."""
        sheet = self._open("classes")
        if sheet is None:
            return
        for row in sheet.rows():
            sid = row.id("sid")
            if not sid:
                continue
            status, ok = self._status("classes", row)
            if not ok:
                continue
            title = row["title"]
            school = self._school(row, "school")
            self.class_ids.add(sid)
            self.roster.classes.append(
                ClassRecord(
                    sid,
                    school,
                    title or sid,
                    row["code"] or None,
                    row["grades"],
                    row.file,
                    row.line,
                    status,
                )
            )

    def read_enrollments(self) -> None:
        """Read enrollments.csv (students and teachers only)."""
        sheet = self._open("enrollments")
        if sheet is None:
            return
        check_classes = self.modes.get("classes") == "bulk"
        check_users = self.modes.get("users") == "bulk"
        enrollments = self.roster.enrollments
        fast = self._plain_statuses("enrollments")
        ident = self.ctx.ident
        # hash(sourcedId) -> index in enrollments: a repeated id must name the same class,
        # user and role. Hashes, not the ids, so 300,000 id strings need not stay alive.
        by_id: dict[int, int] = {}
        fields = ("status", "class", "user", "role", "primary", "sid")
        for row, (status_raw, class_id, user_id, raw_role, primary_raw, enrol_id) in sheet.tuples(
            *fields
        ):
            status, ok = fast.get(status_raw) or self._status("enrollments", row)
            if not ok:
                continue
            class_id, user_id = ident(class_id), ident(user_id)
            # Shared constants: a fresh "student" string per row costs megabytes.
            role = _ENROL_ROLES.get(raw_role) or _ENROL_ROLES.get(raw_role.casefold())
            if not class_id or not user_id:
                row.error(None, "classSourcedId or userSourcedId is empty; the row was skipped.")
                continue
            if role is None:
                row.warning(
                    "role",
                    f"Enrollment role '{raw_role}' is not student or teacher; Keyslip enrols "
                    "only students and teachers, so the row was skipped.",
                    kind="enrol-role",
                )
                continue
            if check_classes and class_id not in self.class_ids:
                row.warning(
                    "class",
                    f"Class '{class_id}' is not in classes.csv; the enrollment was skipped.",
                    kind="dangling-class",
                )
                continue
            if check_users and user_id not in self.person_roles:
                row.warning(
                    "user",
                    f"User '{user_id}' is not in users.csv; the enrollment was skipped.",
                    kind="dangling-user",
                )
                continue
            person_role = self.person_roles.get(user_id)
            if person_role and person_role != role and status != "tobedeleted":
                row.warning(
                    "role",
                    f"User '{user_id}' is a {person_role} but is enrolled as a {role}; the "
                    "enrollment was kept as written.",
                    kind="enrol-mismatch",
                )
            primary = primary_raw == "true" or (primary_raw != "false" and row["primary"])
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
                    row.error(
                        "sid",
                        f"Enrollment '{self.ctx.ident(enrol_id)}' is listed again (first on line "
                        f"{enrollments[first].line}) with a different class, user or role; "
                        "only the first was kept. Give each enrollment its own sourcedId.",
                        kind="conflict-enrollment-id",
                    )
                    continue
            enrollments.append(
                EnrollmentRecord(class_id, user_id, role, primary, row.file, row.line, status)
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
