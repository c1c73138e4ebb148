"""Read Microsoft School Data Sync uploads: v2.1 CSV and the v1 "UK format"."""

from __future__ import annotations

from dataclasses import dataclass, field

from webapp.roster.columns import Columns
from webapp.roster.context import FileSet, ReadContext, map_role
from webapp.roster.decode import Table
from webapp.roster.orgs import OrgTree
from webapp.roster.people import PeopleCollector
from webapp.roster.records import (
    ClassRecord,
    EnrollmentRecord,
    GuardianRecord,
    PersonRecord,
    Role,
    Roster,
    SchoolRecord,
    Status,
)

ORG_FIELDS = {"sourcedId": (), "name": (), "type": (), "parentSourcedId": ()}
USER_FIELDS = {
    "sourcedId": (),
    "username": (),
    "givenName": (),
    "familyName": (),
    "middleName": (),
    "preferredGivenName": (),
    "preferredFamilyName": (),
    "password": (),
    "email": (),
    "phone": (),
    "sms": (),
    "identifier": ("studentNumber",),
}
USER_PASSTHROUGH = ("activeDirectoryMatchId", "preferredMiddleName", "userMasterIdentifier")
ROLE_FIELDS = {
    "userSourcedId": (),
    "orgSourcedId": (),
    "role": (),
    "sessionSourcedId": (),
    "grade": (),
    "isPrimary": (),
    "roleStartDate": (),
    "roleEndDate": (),
}
CLASS_FIELDS = {
    "sourcedId": (),
    "orgSourcedId": (),
    "title": (),
    "code": ("classCode",),
    "sessionSourcedIds": (),
    "courseSourcedId": (),
}
ENROLLMENT_FIELDS = {"classSourcedId": (), "userSourcedId": (), "role": ()}
RELATIONSHIP_FIELDS = {"userSourcedId": (), "relationshipUserSourcedId": (), "relationshipRole": ()}
SDS_FILES = ("orgs", "users", "roles", "classes", "enrollments", "relationships")


@dataclass(slots=True)
class _UserRoles:
    primary: Role | None = None
    first: Role | None = None
    grade: str | None = None
    orgs: list[str] = field(default_factory=list)


class _Base:
    def __init__(self, files: FileSet, ctx: ReadContext, fmt: str) -> None:
        self.files = files
        self.ctx = ctx
        self.log = ctx.log
        self.roster = Roster(format=fmt, complete=True)

    def _open(
        self,
        name: str,
        fields: dict[str, tuple[str, ...]],
        required: tuple[str, ...],
        passthrough: tuple[str, ...] = (),
        *,
        needed: bool = False,
    ) -> tuple[Table, Columns] | None:
        found = self.files.get(name)
        if found is None:
            if needed:
                self.log.error(
                    name,
                    None,
                    None,
                    f"This upload needs {name}. School Data Sync exports are full snapshots; "
                    "add the file and upload again.",
                )
            return None
        table = self.ctx.open(*found)
        if table is None:
            return None
        cols = Columns(table, fields, required, self.log, passthrough=passthrough)
        return (table, cols) if cols.ok else None


class SdsReader(_Base):
    """Read SDS v2.1: orgs, users, roles, classes, enrollments, relationships."""

    def __init__(self, files: FileSet, ctx: ReadContext) -> None:
        super().__init__(files, ctx, "sds-2.1")
        self.tree = OrgTree(ctx.log)
        self.user_roles: dict[str, _UserRoles] = {}
        self.related: dict[str, str] = {}
        # Contacts relationships.csv names but who get no account (siblings, friends ...).
        self.left_out: set[str] = set()
        self.relationships: list[tuple[str, str, str, int]] = []
        self.people = PeopleCollector(ctx)
        self.class_ids: set[str] = set()

    def read_orgs(self) -> None:
        """Read orgs.csv."""
        opened = self._open("orgs.csv", ORG_FIELDS, ("sourcedId", "name", "type"), needed=True)
        if opened is None:
            return
        table, cols = opened
        self.tree.file = table.file
        for line, cells in table.rows():
            sid = self.ctx.ident(cols.get(cells, "sourcedId"))
            if not sid:
                self.log.error(table.file, line, cols.name("sourcedId"), "sourcedId is empty.")
                continue
            name = self.ctx.text(cols.get(cells, "name"), table.file, line, cols.name("name"))
            parent = self.ctx.ident(cols.get(cells, "parentSourcedId"))
            self.tree.add(sid, name, cols.get(cells, "type"), parent, line)
        self.tree.check_parents(cols.name("parentSourcedId"))

    def read_roles(self) -> None:
        """Read roles.csv: role, grade and orgs per user."""
        opened = self._open("roles.csv", ROLE_FIELDS, ("userSourcedId", "role"), needed=True)
        if opened is None:
            return
        table, cols = opened
        ctx, file = self.ctx, table.file
        for line, cells in table.rows():
            user = ctx.ident(cols.get(cells, "userSourcedId"))
            raw_role = cols.get(cells, "role")
            role = map_role(raw_role)
            if not user:
                self.log.error(file, line, cols.name("userSourcedId"), "userSourcedId is empty.")
                continue
            if role is None:
                self.log.error(
                    file,
                    line,
                    cols.name("role"),
                    f"Role '{raw_role}' is not an SDS role; the row was skipped.",
                    kind="bad-role",
                )
                continue
            info = self.user_roles.setdefault(user, _UserRoles())
            primary = ctx.flag(
                cols.get(cells, "isPrimary"), file, line, cols.name("isPrimary"), False
            )
            if info.first is None:
                info.first = role
            if primary and info.primary is None:
                info.primary = role
            if role == "student" and (primary or info.grade is None):
                info.grade = ctx.grade(cols.get(cells, "grade"), file, line, cols.name("grade"))
            org = ctx.ident(cols.get(cells, "orgSourcedId"))
            if org:
                school = self.tree.school(org, file, line, cols.name("orgSourcedId"))
                if school and school not in info.orgs:
                    info.orgs.append(school)

    def read_relationships(self) -> None:
        """Read relationships.csv; a user named only there is a parent."""
        opened = self._open(
            "relationships.csv",
            RELATIONSHIP_FIELDS,
            ("userSourcedId", "relationshipUserSourcedId", "relationshipRole"),
        )
        if opened is None:
            return
        table, cols = opened
        for line, cells in table.rows():
            user = self.ctx.ident(cols.get(cells, "userSourcedId"))
            other = self.ctx.ident(cols.get(cells, "relationshipUserSourcedId"))
            raw = cols.get(cells, "relationshipRole")
            if not user or not other:
                self.log.error(table.file, line, None, "A user id is empty; the row was skipped.")
                continue
            # A guardian by roles.csv is linked whatever the word; others by the word.
            info = self.user_roles.get(other)
            guardian = info is not None and "parent" in (info.primary, info.first)
            if not guardian and not self.ctx.contact_is_parent(
                raw, table.file, line, cols.name("relationshipRole"), f"'{other}' of '{user}'"
            ):
                self.left_out.add(other)
                continue
            self.related.setdefault(other, "parent")
            self.relationships.append((user, other, table.file, line))

    def read_users(self) -> None:
        """Read users.csv."""
        opened = self._open(
            "users.csv",
            USER_FIELDS,
            ("sourcedId", "givenName", "familyName"),
            USER_PASSTHROUGH,
            needed=True,
        )
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
            info = self.user_roles.get(sid)
            role: Role | None = None
            if info is not None:
                role = info.primary or info.first
            elif sid in self.related:
                role = "parent"
            elif sid in self.left_out:
                continue  # already listed on its relationships.csv line
            if role is None:
                self.log.error(
                    file,
                    line,
                    None,
                    f"User '{sid}' has no row in roles.csv and is nobody's guardian in "
                    "relationships.csv, so their role is unknown; the user was skipped.",
                    kind="no-role",
                )
                continue
            given = cols.get(cells, "preferredGivenName") or cols.get(cells, "givenName")
            family = cols.get(cells, "preferredFamilyName") or cols.get(cells, "familyName")
            names = ctx.names(
                given, family, file, line, (cols.name("givenName"), cols.name("familyName"))
            )
            if names is None:
                continue
            given, family = names
            if self.people.seen(sid):
                self.people.repeat(sid, tuple(cells), None, file, line)
                continue
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
                    phone=ctx.phone(
                        [cols.get(cells, "sms"), cols.get(cells, "phone")],
                        file,
                        line,
                        cols.name("phone"),
                    ),
                    grade=info.grade if info and role == "student" else None,
                    student_number=ctx.student_number(
                        cols.get(cells, "identifier"), file, line, cols.name("identifier")
                    )
                    if role == "student"
                    else None,
                    school_ids=ctx.ids(tuple(info.orgs) if info else ()),
                    password=cols.get(cells, "password") or None,
                    middle_name=ctx.name(
                        cols.get(cells, "middleName"), file, line, cols.name("middleName")
                    )
                    or None,
                ),
                tuple(cells),
            )
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
        opened = self._open("classes.csv", CLASS_FIELDS, ("sourcedId", "title"))
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
            org = ctx.ident(cols.get(cells, "orgSourcedId"))
            self.class_ids.add(sid)
            self.roster.classes.append(
                ClassRecord(
                    sourced_id=sid,
                    school_id=self.tree.school(org, file, line, cols.name("orgSourcedId"))
                    if org
                    else None,
                    title=ctx.text(
                        cols.get(cells, "title"), file, line, cols.name("title"), limit=200
                    )
                    or sid,
                    class_code=ctx.text(cols.get(cells, "code"), file, line, cols.name("code"))
                    or None,
                    grades=(),
                    file=file,
                    line=line,
                )
            )

    def read_enrollments(self) -> None:
        """Read enrollments.csv."""
        opened = self._open(
            "enrollments.csv", ENROLLMENT_FIELDS, ("classSourcedId", "userSourcedId", "role")
        )
        if opened is None:
            return
        table, cols = opened
        ctx, file = self.ctx, table.file
        for line, cells in table.rows():
            class_id = ctx.ident(cols.get(cells, "classSourcedId"))
            user_id = ctx.ident(cols.get(cells, "userSourcedId"))
            raw_role = cols.get(cells, "role")
            mapped = map_role(raw_role)
            role = "teacher" if mapped in ("teacher", "staff") else mapped
            if role not in ("student", "teacher"):
                self.log.warning(
                    file,
                    line,
                    cols.name("role"),
                    f"Enrollment role '{raw_role}' is not a student or teacher role; the row "
                    "was skipped.",
                    kind="enrol-role",
                )
                continue
            if class_id not in self.class_ids:
                self.log.warning(
                    file,
                    line,
                    cols.name("classSourcedId"),
                    f"Class '{class_id}' is not in classes.csv; the enrollment was skipped.",
                    kind="dangling-class",
                )
                continue
            if not self.people.seen(user_id):
                self.log.warning(
                    file,
                    line,
                    cols.name("userSourcedId"),
                    f"User '{user_id}' is not in users.csv; the enrollment was skipped.",
                    kind="dangling-user",
                )
                continue
            self.roster.enrollments.append(
                EnrollmentRecord(class_id, user_id, role, False, file, line)  # type: ignore[arg-type]
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

UK_SCHOOL_FIELDS = {"DfE Number": ("SIS ID",), "Name": ("School Name",)}
UK_SCHOOL_PASSTHROUGH = (
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
)
UK_PERSON_FIELDS = {
    "ID": ("SIS ID",),
    "School DfE Number": (),
    "First Name": (),
    "Last Name": (),
    "Middle Name": (),
    "Username": (),
    "Password": (),
    "Secondary Email": ("Email",),
    "Student Number": ("UPN",),
    "Teacher Number": (),
    "Grade": ("Year",),
    "Status": (),
    "Phone": ("Mobile",),
}
UK_PERSON_PASSTHROUGH = ("State ID", "Birthdate", "Graduation Year", "Title", "Qualification")
UK_SECTION_FIELDS = {
    "ID": ("SIS ID",),
    "School DfE Number": (),
    "Section Name": (),
    "Section Number": (),
    "Course Name": (),
    "Status": (),
}
UK_SECTION_PASSTHROUGH = (
    "Term SIS ID",
    "Term Name",
    "Term StartDate",
    "Term EndDate",
    "Course SIS ID",
    "Course Number",
    "Course Description",
    "Course Subject",
    "Periods",
)
UK_ROSTER_FIELDS = {"Section ID": ("Section SIS ID",), "ID": ("SIS ID",)}
UK_FILES = ("school", "student", "teacher", "section", "studentenrollment", "teacherroster")


class SdsUkReader(_Base):
    """Read the SDS v1 "UK format": School, Student, Teacher, Section and roster files."""

    def __init__(self, files: FileSet, ctx: ReadContext) -> None:
        super().__init__(files, ctx, "sds-uk")
        self.people = PeopleCollector(ctx)
        self.school_ids: set[str] | None = None
        self.section_ids: set[str] = set()

    def _status(self, cols: Columns, cells: list[str], file: str, line: int) -> Status | None:
        raw = cols.get(cells, "Status")
        value = raw.casefold()
        if not value:
            return None
        if value == "active":
            return "active"
        if value in ("inactive", "deleted", "tobedeleted", "left"):
            return "tobedeleted"
        self.log.warning(
            file,
            line,
            cols.name("Status"),
            f"Status '{raw}' is not Active or Inactive; ignored.",
            kind="status",
        )
        return None

    def _school(self, cols: Columns, cells: list[str], file: str, line: int) -> str | None:
        school = self.ctx.ident(cols.get(cells, "School DfE Number"))
        if school and self.school_ids is not None and school not in self.school_ids:
            self.log.warning(
                file,
                line,
                cols.name("School DfE Number"),
                f"School '{school}' is not in School.csv; the reference was ignored.",
                kind="dangling-school",
            )
            return None
        return school or None

    def read_schools(self) -> None:
        """Read School.csv."""
        opened = self._open(
            "School.csv", UK_SCHOOL_FIELDS, ("DfE Number", "Name"), UK_SCHOOL_PASSTHROUGH
        )
        if opened is None:
            return
        table, cols = opened
        self.school_ids = set()
        for line, cells in table.rows():
            sid = self.ctx.ident(cols.get(cells, "DfE Number"))
            if not sid:
                self.log.error(table.file, line, cols.name("DfE Number"), "DfE Number is empty.")
                continue
            name = self.ctx.text(cols.get(cells, "Name"), table.file, line, cols.name("Name"))
            self.school_ids.add(sid)
            self.roster.schools.append(SchoolRecord(sid, name or sid, table.file, line))

    def read_people(self, name: str, role: Role) -> None:
        """Read Student.csv or Teacher.csv."""
        opened = self._open(
            name,
            UK_PERSON_FIELDS,
            ("ID", "First Name", "Last Name"),
            UK_PERSON_PASSTHROUGH,
            needed=True,
        )
        if opened is None:
            return
        table, cols = opened
        ctx, file = self.ctx, table.file
        is_student = role == "student"
        for line, cells in table.rows():
            sid = ctx.ident(cols.get(cells, "ID"))
            if not sid:
                self.log.error(file, line, cols.name("ID"), "ID is empty; the row was skipped.")
                continue
            school = self._school(cols, cells, file, line)
            core = tuple(c for i, c in enumerate(cells) if i != cols.index.get("School DfE Number"))
            if self.people.seen(sid):
                self.people.repeat(sid, core, school, file, line)
                continue
            names = ctx.names(
                cols.get(cells, "First Name"),
                cols.get(cells, "Last Name"),
                file,
                line,
                (cols.name("First Name"), cols.name("Last Name")),
            )
            if names is None:
                continue
            given, family = names
            number_key = "Student Number" if is_student else "Teacher Number"
            self.people.add(
                PersonRecord(
                    sourced_id=sid,
                    role=role,
                    given_name=given,
                    family_name=family,
                    file=file,
                    line=line,
                    username=ctx.ident(cols.get(cells, "Username")) or None,
                    email=ctx.email(
                        cols.get(cells, "Secondary Email"), file, line, cols.name("Secondary Email")
                    ),
                    phone=ctx.phone([cols.get(cells, "Phone")], file, line, cols.name("Phone")),
                    grade=ctx.grade(cols.get(cells, "Grade"), file, line, cols.name("Grade"))
                    if is_student
                    else None,
                    student_number=ctx.student_number(
                        cols.get(cells, number_key), file, line, cols.name(number_key)
                    )
                    if is_student
                    else None,
                    school_ids=ctx.ids((school,) if school else ()),
                    status=self._status(cols, cells, file, line),
                    password=cols.get(cells, "Password") or None,
                    middle_name=ctx.name(
                        cols.get(cells, "Middle Name"), file, line, cols.name("Middle Name")
                    )
                    or None,
                ),
                core,
            )

    def read_sections(self) -> None:
        """Read Section.csv."""
        opened = self._open(
            "Section.csv", UK_SECTION_FIELDS, ("ID", "Section Name"), UK_SECTION_PASSTHROUGH
        )
        if opened is None:
            return
        table, cols = opened
        ctx, file = self.ctx, table.file
        for line, cells in table.rows():
            sid = ctx.ident(cols.get(cells, "ID"))
            if not sid:
                self.log.error(file, line, cols.name("ID"), "ID is empty; the row was skipped.")
                continue
            title = cols.get(cells, "Section Name") or cols.get(cells, "Course Name") or sid
            self.section_ids.add(sid)
            self.roster.classes.append(
                ClassRecord(
                    sourced_id=sid,
                    school_id=self._school(cols, cells, file, line),
                    title=ctx.text(title, file, line, cols.name("Section Name"), limit=200),
                    class_code=ctx.ident(cols.get(cells, "Section Number")) or None,
                    grades=(),
                    file=file,
                    line=line,
                    status=self._status(cols, cells, file, line),
                )
            )

    def read_roster_file(self, name: str, role: Role) -> None:
        """Read StudentEnrollment.csv or TeacherRoster.csv."""
        opened = self._open(name, UK_ROSTER_FIELDS, ("Section ID", "ID"))
        if opened is None:
            return
        table, cols = opened
        ctx, file = self.ctx, table.file
        source = "Student.csv" if role == "student" else "Teacher.csv"
        for line, cells in table.rows():
            section = ctx.ident(cols.get(cells, "Section ID"))
            user = ctx.ident(cols.get(cells, "ID"))
            if section not in self.section_ids:
                self.log.warning(
                    file,
                    line,
                    cols.name("Section ID"),
                    f"Section '{section}' is not in Section.csv; the row was skipped.",
                    kind="dangling-class",
                )
                continue
            if self.people.role_of(user) != role:
                self.log.warning(
                    file,
                    line,
                    cols.name("ID"),
                    f"'{user}' is not in {source}; the row was skipped.",
                    kind="dangling-user",
                )
                continue
            self.roster.enrollments.append(
                EnrollmentRecord(section, user, role, role == "teacher", file, line)  # type: ignore[arg-type]
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
