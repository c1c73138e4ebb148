"""Read Microsoft School Data Sync uploads: v2.1 CSV and the v1 "UK format"."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from webapp.roster.context import FileSet, ReadContext, map_role
from webapp.roster.core import Col, FileSpec, Row, Sheet, cols, open_sheet, person
from webapp.roster.orgs import OrgTree
from webapp.roster.people import PeopleCollector
from webapp.roster.records import (
    ClassRecord,
    EnrollmentRecord,
    GuardianRecord,
    Role,
    Roster,
    SchoolRecord,
    Status,
)

_NEEDED = (
    "This upload needs {name}. School Data Sync exports are full snapshots; add the file and "
    "upload again."
)
ORGS = FileSpec(
    "orgs.csv",
    cols(
        ("sid", "sourcedId", "raw"),
        ("name", "name", "text"),
        ("type", "type", "raw"),
        ("parent", "parentSourcedId", "id"),
    ),
    required=("sid", "name", "type"),
    missing=_NEEDED,
)
USERS = FileSpec(
    "users.csv",
    cols(
        ("sid", "sourcedId", "raw"),
        ("username", "username", "id"),
        ("given", "givenName", "raw"),
        ("family", "familyName", "raw"),
        ("middle", "middleName", "name"),
        ("preferred_given", "preferredGivenName", "raw"),
        ("preferred_family", "preferredFamilyName", "raw"),
        ("password", "password", "raw"),
        ("email", "email", "email"),
        ("phone", "phone", "raw"),
        ("sms", "sms", "raw"),
        ("number", "identifier", "number", "studentNumber"),
    ),
    required=("sid", "given", "family"),
    passthrough=("activeDirectoryMatchId", "preferredMiddleName", "userMasterIdentifier"),
    missing=_NEEDED,
)
ROLES = FileSpec(
    "roles.csv",
    cols(
        ("user", "userSourcedId", "id"),
        ("org", "orgSourcedId", "id"),
        ("role", "role", "raw"),
        ("session", "sessionSourcedId", "skip"),
        ("grade", "grade", "grade"),
        ("primary", "isPrimary", "flag"),
        ("start", "roleStartDate", "skip"),
        ("end", "roleEndDate", "skip"),
    ),
    required=("user", "role"),
    missing=_NEEDED,
)
CLASSES = FileSpec(
    "classes.csv",
    (
        *cols(("sid", "sourcedId", "raw"), ("org", "orgSourcedId", "id")),
        Col("title", "title", clean="text", limit=200),
        *cols(
            ("code", "code", "text", "classCode"),
            ("sessions", "sessionSourcedIds", "skip"),
            ("course", "courseSourcedId", "skip"),
        ),
    ),
    required=("sid", "title"),
)
ENROLLMENTS = FileSpec(
    "enrollments.csv",
    cols(
        ("class", "classSourcedId", "id"),
        ("user", "userSourcedId", "id"),
        ("role", "role", "raw"),
    ),
    required=("class", "user", "role"),
)
RELATIONSHIPS = FileSpec(
    "relationships.csv",
    cols(
        ("user", "userSourcedId", "id"),
        ("other", "relationshipUserSourcedId", "id"),
        ("role", "relationshipRole", "raw"),
    ),
    required=("user", "other", "role"),
)
SDS_FILES = ("orgs", "users", "roles", "classes", "enrollments", "relationships")


@dataclass(slots=True)
class _UserRoles:
    primary: Role | None = None
    first: Role | None = None
    grade: str | None = None
    orgs: list[str] = field(default_factory=list)


class SdsReader:
    """Read SDS v2.1: orgs, users, roles, classes, enrollments, relationships."""

    def __init__(self, files: FileSet, ctx: ReadContext) -> None:
        self.files = files
        self.ctx = ctx
        self.log = ctx.log
        self.roster = Roster(format="sds-2.1", complete=True)
        self.tree = OrgTree(ctx.log)
        self.user_roles: dict[str, _UserRoles] = {}
        self.related: dict[str, str] = {}
        # Contacts relationships.csv names but who get no account (siblings, friends ...).
        self.left_out: set[str] = set()
        self.relationships: list[tuple[str, str, str, int]] = []
        self.people = PeopleCollector(ctx)
        self.class_ids: set[str] = set()

    def _open(self, spec: FileSpec) -> Sheet | None:
        return open_sheet(self.files, self.ctx, spec)

    def _school(self, row: Row) -> str | None:
        org = row["org"]
        return self.tree.school(org, row.file, row.line, row.column("org")) if org else None

    def read_orgs(self) -> None:
        """Read orgs.csv."""
        sheet = self._open(ORGS)
        if sheet is None:
            return
        self.tree.file = sheet.file
        for row in sheet.rows():
            sid = row.id("sid", skipped=False)
            if sid:
                self.tree.add(sid, row["name"], row.raw("type"), row["parent"], row.line)
        self.tree.check_parents(sheet.column("parent"))

    def read_roles(self) -> None:
        """Read roles.csv: role, grade and orgs per user."""
        sheet = self._open(ROLES)
        if sheet is None:
            return
        for row in sheet.rows():
            raw_role = row.raw("role")
            role = map_role(raw_role)
            user = row.id("user", skipped=False)
            if not user:
                continue
            if role is None:
                row.error(
                    "role",
                    f"Role '{raw_role}' is not an SDS role; the row was skipped.",
                    kind="bad-role",
                )
                continue
            info = self.user_roles.setdefault(user, _UserRoles())
            primary = row["primary"]
            if info.first is None:
                info.first = role
            if primary and info.primary is None:
                info.primary = role
            if role == "student" and (primary or info.grade is None):
                info.grade = row["grade"]
            school = self._school(row)
            if school and school not in info.orgs:
                info.orgs.append(school)

    def read_relationships(self) -> None:
        """Read relationships.csv; a user named only there is a parent."""
        sheet = self._open(RELATIONSHIPS)
        if sheet is None:
            return
        for row in sheet.rows():
            user, other = row["user"], row["other"]
            if not user or not other:
                row.error(None, "A user id is empty; the row was skipped.")
                continue
            # A guardian by roles.csv is linked whatever the word; others by the word.
            info = self.user_roles.get(other)
            guardian = info is not None and "parent" in (info.primary, info.first)
            if not guardian and not self.ctx.contact_is_parent(
                row.raw("role"), row.file, row.line, row.column("role"), f"'{other}' of '{user}'"
            ):
                self.left_out.add(other)
                continue
            self.related.setdefault(other, "parent")
            self.relationships.append((user, other, row.file, row.line))

    def _role(self, sid: str, row: Row) -> Role | None:
        """Return a user's role from roles.csv or relationships.csv; None when unknown."""
        info = self.user_roles.get(sid)
        if info is not None and (info.primary or info.first):
            return info.primary or info.first
        if info is None and sid in self.related:
            return "parent"
        if info is None and sid in self.left_out:
            return None  # already listed on its relationships.csv line
        row.error(
            None,
            f"User '{sid}' has no row in roles.csv and is nobody's guardian in "
            "relationships.csv, so their role is unknown; the user was skipped.",
            kind="no-role",
        )
        return None

    def read_users(self) -> None:
        """Read users.csv."""
        sheet = self._open(USERS)
        if sheet is None:
            return
        for row in sheet.rows():
            sid = row.id("sid")
            if not sid:
                continue
            role = self._role(sid, row)
            if role is None:
                continue
            if self.people.seen(sid):
                self.people.repeat(sid, tuple(row.cells), None, row.file, row.line)
                continue
            info = self.user_roles.get(sid)
            record = person(
                row,
                sid,
                role,
                schools=tuple(info.orgs) if info else (),
                grade=info.grade if info else None,
            )
            if record is not None:
                self.people.add(record, tuple(row.cells))
        for sid in self.user_roles:
            if not self.people.seen(sid):
                self.log.warning(
                    "roles.csv",
                    None,
                    "userSourcedId",
                    f"User '{sid}' has a role but is not in users.csv; the role was ignored.",
                    kind="dangling-user",
                )

    def read_classes(self) -> None:
        """Read classes.csv."""
        sheet = self._open(CLASSES)
        if sheet is None:
            return
        for row in sheet.rows():
            sid = row.id("sid")
            if not sid:
                continue
            school = self._school(row)
            self.class_ids.add(sid)
            self.roster.classes.append(
                ClassRecord(
                    sid, school, row["title"] or sid, row["code"] or None, (), row.file, row.line
                )
            )

    def read_enrollments(self) -> None:
        """Read enrollments.csv."""
        sheet = self._open(ENROLLMENTS)
        if sheet is None:
            return
        for row in sheet.rows():
            class_id, user_id, raw_role = row["class"], row["user"], row.raw("role")
            mapped = map_role(raw_role)
            role = "teacher" if mapped in ("teacher", "staff") else mapped
            if role not in ("student", "teacher"):
                row.warning(
                    "role",
                    f"Enrollment role '{raw_role}' is not a student or teacher role; the row "
                    "was skipped.",
                    kind="enrol-role",
                )
                continue
            if class_id not in self.class_ids:
                row.warning(
                    "class",
                    f"Class '{class_id}' is not in classes.csv; the enrollment was skipped.",
                    kind="dangling-class",
                )
                continue
            if not self.people.seen(user_id):
                row.warning(
                    "user",
                    f"User '{user_id}' is not in users.csv; the enrollment was skipped.",
                    kind="dangling-user",
                )
                continue
            self.roster.enrollments.append(
                EnrollmentRecord(class_id, user_id, role, False, row.file, row.line)  # type: ignore[arg-type]
            )

    def link_relationships(self) -> None:
        """Turn relationships.csv rows into student-parent links."""
        for user, other, file, line in self.relationships:
            roles = (self.people.role_of(user), self.people.role_of(other))
            if None in roles:
                missing = user if roles[0] is None else other
                self.log.warning(
                    file,
                    line,
                    None,
                    f"User '{missing}' is not in users.csv; no link was made.",
                    kind="dangling-user",
                )
                continue
            if set(roles) != {"student", "parent"}:
                self.log.warning(
                    file,
                    line,
                    None,
                    f"'{user}' ({roles[0]}) and '{other}' ({roles[1]}) are not a student and a "
                    "parent; no link was made.",
                    kind="pairing",
                )
                continue
            parent, student = (other, user) if roles[0] == "student" else (user, other)
            self.roster.guardians.append(GuardianRecord(parent, student, file, line))

    def read(self) -> Roster:
        """Read every SDS v2.1 file that was uploaded."""
        self.read_orgs()
        self.read_roles()
        self.read_relationships()
        self.read_users()
        self.read_classes()
        self.read_enrollments()
        self.link_relationships()
        self.roster.schools = self.tree.schools()
        self.roster.people = self.people.people
        present = {n.casefold() for n in self.files.names()}
        self.roster.modes = {
            "orgs": "bulk",
            "users": "bulk",
            "classes": "bulk" if "classes.csv" in present else "absent",
            "enrollments": "bulk" if "enrollments.csv" in present else "absent",
        }
        ignored = sorted(n for n in self.files.names() if n.casefold()[:-4] not in SDS_FILES)
        if ignored:
            self.log.note(f"Not needed for logins, so not read: {', '.join(ignored)}.")
        return self.roster


# SDS v1 "UK format" ------------------------------------------------------------

UK_SCHOOL = FileSpec(
    "School.csv",
    cols(("sid", "DfE Number", "raw", "SIS ID"), ("name", "Name", "text", "School Name")),
    required=("sid", "name"),
    passthrough=(
        "School Number",
        "School NCES_ID",
        "State ID",
        "Grade Low",
        "Grade High",
        "Principal SIS ID",
        "Principal Name",
        "Principal Secondary Email",
        "Address",
        "City",
        "State",
        "Country",
        "Postal Code",
        "Phone",
        "Zone",
    ),
)
UK_PEOPLE = FileSpec(
    "Student.csv",
    cols(
        ("sid", "ID", "raw", "SIS ID"),
        ("school", "School DfE Number", "id"),
        ("given", "First Name", "raw"),
        ("family", "Last Name", "raw"),
        ("middle", "Middle Name", "name"),
        ("username", "Username", "id"),
        ("password", "Password", "raw"),
        ("email", "Secondary Email", "email", "Email"),
        ("number", "Student Number", "number", "UPN"),
        ("teacher_number", "Teacher Number", "skip"),
        ("grade", "Grade", "grade", "Year"),
        ("status", "Status", "raw"),
        ("phone", "Phone", "raw", "Mobile"),
    ),
    required=("sid", "given", "family"),
    passthrough=("State ID", "Birthdate", "Graduation Year", "Title", "Qualification"),
    missing=_NEEDED,
)
UK_SECTION = FileSpec(
    "Section.csv",
    cols(
        ("sid", "ID", "raw", "SIS ID"),
        ("school", "School DfE Number", "id"),
        ("name", "Section Name", "raw"),
        ("number", "Section Number", "id"),
        ("course", "Course Name", "raw"),
        ("status", "Status", "raw"),
    ),
    required=("sid", "name"),
    passthrough=(
        "Term SIS ID",
        "Term Name",
        "Term StartDate",
        "Term EndDate",
        "Course SIS ID",
        "Course Number",
        "Course Description",
        "Course Subject",
        "Periods",
    ),
)
UK_ROSTER = FileSpec(
    "StudentEnrollment.csv",
    cols(("section", "Section ID", "id", "Section SIS ID"), ("user", "ID", "id", "SIS ID")),
    required=("section", "user"),
)
UK_FILES = ("school", "student", "teacher", "section", "studentenrollment", "teacherroster")


class SdsUkReader:
    """Read the SDS v1 "UK format": School, Student, Teacher, Section and roster files."""

    def __init__(self, files: FileSet, ctx: ReadContext) -> None:
        self.files = files
        self.ctx = ctx
        self.log = ctx.log
        self.roster = Roster(format="sds-uk", complete=True)
        self.people = PeopleCollector(ctx)
        self.school_ids: set[str] | None = None
        self.section_ids: set[str] = set()

    def _status(self, row: Row) -> Status | None:
        raw = row.raw("status")
        value = raw.casefold()
        if not value:
            return None
        if value == "active":
            return "active"
        if value in ("inactive", "deleted", "tobedeleted", "left"):
            return "tobedeleted"
        row.warning("status", f"Status '{raw}' is not Active or Inactive; ignored.", kind="status")
        return None

    def _school(self, row: Row) -> str | None:
        school = row["school"]
        if school and self.school_ids is not None and school not in self.school_ids:
            row.warning(
                "school",
                f"School '{school}' is not in School.csv; the reference was ignored.",
                kind="dangling-school",
            )
            return None
        return school or None

    def read_schools(self) -> None:
        """Read School.csv."""
        sheet = open_sheet(self.files, self.ctx, UK_SCHOOL)
        if sheet is None:
            return
        self.school_ids = set()
        for row in sheet.rows():
            sid = row.id("sid", skipped=False)
            if not sid:
                continue
            self.school_ids.add(sid)
            self.roster.schools.append(SchoolRecord(sid, row["name"] or sid, row.file, row.line))

    def read_people(self, name: str, role: Role) -> None:
        """Read Student.csv or Teacher.csv."""
        sheet = open_sheet(self.files, self.ctx, replace(UK_PEOPLE, name=name))
        if sheet is None:
            return
        school_at = sheet.index.get("school")
        for row in sheet.rows():
            sid = row.id("sid")
            if not sid:
                continue
            school = self._school(row)
            core = tuple(c for i, c in enumerate(row.cells) if i != school_at)
            if self.people.seen(sid):
                self.people.repeat(sid, core, school, row.file, row.line)
                continue
            status = self._status(row)
            record = person(row, sid, role, schools=(school,) if school else (), status=status)
            if record is not None:
                self.people.add(record, core)

    def read_sections(self) -> None:
        """Read Section.csv."""
        sheet = open_sheet(self.files, self.ctx, UK_SECTION)
        if sheet is None:
            return
        for row in sheet.rows():
            sid = row.id("sid")
            if not sid:
                continue
            title = row.raw("name") or row.raw("course") or sid
            self.section_ids.add(sid)
            self.roster.classes.append(
                ClassRecord(
                    sourced_id=sid,
                    school_id=self._school(row),
                    title=self.ctx.text(title, row.file, row.line, row.column("name"), limit=200),
                    class_code=row["number"] or None,
                    grades=(),
                    file=row.file,
                    line=row.line,
                    status=self._status(row),
                )
            )

    def read_roster_file(self, name: str, role: Role) -> None:
        """Read StudentEnrollment.csv or TeacherRoster.csv."""
        sheet = open_sheet(self.files, self.ctx, replace(UK_ROSTER, name=name))
        if sheet is None:
            return
        source = "Student.csv" if role == "student" else "Teacher.csv"
        for row in sheet.rows():
            section, user = row["section"], row["user"]
            if section not in self.section_ids:
                row.warning(
                    "section",
                    f"Section '{section}' is not in Section.csv; the row was skipped.",
                    kind="dangling-class",
                )
                continue
            if self.people.role_of(user) != role:
                row.warning(
                    "user",
                    f"'{user}' is not in {source}; the row was skipped.",
                    kind="dangling-user",
                )
                continue
            self.roster.enrollments.append(
                EnrollmentRecord(section, user, role, role == "teacher", row.file, row.line)  # type: ignore[arg-type]
            )

    def read(self) -> Roster:
        """Read every UK-format file that was uploaded."""
        self.read_schools()
        self.read_people("Student.csv", "student")
        self.read_people("Teacher.csv", "teacher")
        self.read_sections()
        self.read_roster_file("StudentEnrollment.csv", "student")
        self.read_roster_file("TeacherRoster.csv", "teacher")
        self.roster.people = self.people.people
        present = {n.casefold() for n in self.files.names()}
        self.roster.modes = {
            "orgs": "bulk" if "school.csv" in present else "absent",
            "users": "bulk",
            "classes": "bulk" if "section.csv" in present else "absent",
            "enrollments": "bulk" if "studentenrollment.csv" in present else "absent",
        }
        ignored = sorted(n for n in self.files.names() if n.casefold()[:-4] not in UK_FILES)
        if ignored:
            self.log.note(f"Not an SDS UK-format file, so not read: {', '.join(ignored)}.")
        return self.roster


def read_sds(files: FileSet, ctx: ReadContext) -> Roster:
    """Read a School Data Sync v2.1 upload; it is always a complete snapshot."""
    return SdsReader(files, ctx).read()


def read_sds_uk(files: FileSet, ctx: ReadContext) -> Roster:
    """Read a School Data Sync "UK format" upload; it is always a complete snapshot."""
    return SdsUkReader(files, ctx).read()
