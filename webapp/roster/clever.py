"""Read a Clever SFTP upload (schools, students, teachers, staff, sections, enrollments)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from webapp.roster.columns import Columns
from webapp.roster.context import FileSet, ReadContext
from webapp.roster.decode import Table
from webapp.roster.dedupe import Repeats
from webapp.roster.normalise import clean_text, identity_key
from webapp.roster.people import PeopleCollector
from webapp.roster.records import (
    ClassRecord,
    EnrollmentRecord,
    GuardianRecord,
    PersonRecord,
    Role,
    Roster,
    SchoolRecord,
)

Fields = Mapping[str, Sequence[str]]
SCHOOL_FIELDS = {"School_id": (), "School_name": (), "School_number": ()}
SCHOOL_PASSTHROUGH = (
    "State_id Nces_id Low_grade High_grade Principal Principal_email School_address "
    "School_city School_state School_zip School_phone"
).split()
STUDENT_FIELDS = {
    "School_id": (),
    "Student_id": (),
    "Student_number": (),
    "Last_name": (),
    "Middle_name": (),
    "First_name": (),
    "Grade": (),
    "Student_email": (),
    "Username": (),
    "Password": (),
    "Contact_relationship": (),
    "Contact_type": (),
    "Contact_name": (),
    "Contact_phone": (),
    "Contact_email": (),
    "Contact_sis_id": (),
}
STUDENT_PASSTHROUGH = (
    "State_id Gender Dob Race Hispanic_Latino Home_language Ell_status Frl_status Iep_status "
    "Student_street Student_city Student_state Student_zip Contact_phone_type"
).split()
TEACHER_FIELDS = {
    "School_id": (),
    "Teacher_id": (),
    "Teacher_number": (),
    "Teacher_email": (),
    "First_name": (),
    "Middle_name": (),
    "Last_name": (),
    "Username": (),
    "Password": (),
}
TEACHER_PASSTHROUGH = ("State_teacher_id", "Title")
STAFF_FIELDS = {
    "School_id": (),
    "Staff_id": (),
    "Staff_email": (),
    "First_name": (),
    "Middle_name": (),
    "Last_name": (),
    "Username": (),
    "Password": (),
}
STAFF_PASSTHROUGH = ("Department", "Title", "Role")
SECTION_FIELDS = {
    "School_id": (),
    "Section_id": (),
    # Some exports number the first teacher column too (Teacher_1_id .. Teacher_10_id).
    "Teacher_id": ("Teacher_1_id",),
    **{f"Teacher_{n}_id": () for n in range(2, 21)},
    "Name": ("Section_name",),
    "Section_number": (),
    "Grade": (),
    "Course_name": (),
    "Course_number": (),
    "Period": (),
}
SECTION_PASSTHROUGH = ("Course_description", "Subject", "Term_name", "Term_start", "Term_end")
ENROLLMENT_FIELDS = {"School_id": (), "Section_id": (), "Student_id": ()}

# Contact_type values that say only how close the contact is, not who they are: with no
# Contact_relationship, Clever's primary and secondary contacts are the guardians.
_GUARDIAN_TYPES = frozenset({"primary", "secondary"})


@dataclass(slots=True)
class _Contact:
    given: str
    family: str
    email: str | None
    phone: str | None
    file: str
    line: int
    schools: list[str] = field(default_factory=list)


def _word(raw: str) -> str:
    return "".join(ch for ch in raw.casefold() if ch.isalnum())


def contact_word(kind: str, relation: str) -> tuple[str, str]:
    """Return the word that says who a contact is, and which column it came from.

    Contact_relationship decides when it says something; Clever's enumerations are
    broken in real files ("Uncle" as a Contact_type), so Contact_type is read as free
    text when it does not. A contact with neither is taken as a guardian.
    """
    if _word(relation) not in ("", "other"):
        return relation, "Contact_relationship"
    if not _word(relation) and (_word(kind) in _GUARDIAN_TYPES or not _word(kind)):
        return "guardian", "Contact_type"
    return (kind, "Contact_type") if kind.strip() else (relation, "Contact_relationship")


def split_full_name(name: str) -> tuple[str, str]:
    """Split a contact's full name into (given, family): "Smith, Mary" or "Mary Ann Smith"."""
    if "," in name:
        family, _, given = name.partition(",")
        return given.strip(), family.strip()
    parts = name.split()
    if len(parts) < 2:
        return name.strip(), ""
    return " ".join(parts[:-1]), parts[-1]


def _derived_id(*parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]
    return f"clever-contact-{digest}"


class CleverReader:
    """Read one Clever SFTP upload into a Roster."""

    def __init__(self, files: FileSet, ctx: ReadContext) -> None:
        self.files = files
        self.ctx = ctx
        self.log = ctx.log
        self.roster = Roster(format="clever", complete=True)
        self.people = PeopleCollector(ctx)
        self.school_ids: set[str] | None = None
        self.section_ids: set[str] = set()
        self.contacts: dict[str, _Contact] = {}
        self.by_email: dict[str, str] = {}
        self.by_phone_name: dict[tuple[str, str], str] = {}
        self.skipped_contacts = 0

    def _open(
        self,
        name: str,
        fields: Fields,
        required: tuple[str, ...],
        passthrough: Sequence[str] = (),
    ) -> tuple[Table, Columns] | None:
        found = self.files.get(name)
        if found is None:
            return None
        table = self.ctx.open(*found)
        if table is None:
            return None
        cols = Columns(table, fields, required, self.log, passthrough=passthrough)
        return (table, cols) if cols.ok else None

    def _school(self, raw: str, file: str, line: int, column: str) -> str | None:
        school = self.ctx.ident(raw)
        if not school:
            return None
        if self.school_ids is not None and school not in self.school_ids:
            self.log.warning(
                file,
                line,
                column,
                f"School '{school}' is not in schools.csv; the reference was ignored.",
                kind="dangling-school",
            )
            return None
        return school

    def read_schools(self) -> None:
        """Read schools.csv."""
        opened = self._open(
            "schools.csv", SCHOOL_FIELDS, ("School_id", "School_name"), SCHOOL_PASSTHROUGH
        )
        if opened is None:
            return
        table, cols = opened
        self.school_ids = set()
        for line, cells in table.rows():
            sid = self.ctx.ident(cols.get(cells, "School_id"))
            if not sid:
                self.log.error(
                    table.file,
                    line,
                    cols.name("School_id"),
                    "School_id is empty; the row was skipped.",
                )
                continue
            name = self.ctx.text(
                cols.get(cells, "School_name"), table.file, line, cols.name("School_name")
            )
            self.school_ids.add(sid)
            self.roster.schools.append(SchoolRecord(sid, name or sid, table.file, line))

    def read_people(
        self,
        name: str,
        fields: Fields,
        id_key: str,
        email_key: str,
        role: Role,
        passthrough: Sequence[str],
        *,
        required_file: bool,
    ) -> None:
        """Read students.csv, teachers.csv or staff.csv."""
        opened = self._open(
            name, fields, ("School_id", id_key, "First_name", "Last_name"), passthrough
        )
        if opened is None:
            if required_file and self.files.get(name) is None:
                self.log.error(
                    name,
                    None,
                    None,
                    f"A Clever upload is a full snapshot and needs {name}; without it every "
                    f"{role} would look removed. Add the file and upload again.",
                )
            return
        table, cols = opened
        ctx, file = self.ctx, table.file
        is_student = role == "student"
        for line, cells in table.rows():
            sid = ctx.ident(cols.get(cells, id_key))
            if not sid:
                self.log.error(
                    file,
                    line,
                    cols.name(id_key),
                    f"{cols.name(id_key)} is empty; the row was skipped.",
                )
                continue
            school = self._school(cols.get(cells, "School_id"), file, line, cols.name("School_id"))
            core = tuple(
                cols.get(cells, key)
                for key in (
                    "First_name",
                    "Middle_name",
                    "Last_name",
                    "Grade",
                    email_key,
                    "Student_number",
                    "Teacher_number",
                    "Username",
                    "Password",
                )
            )
            if self.people.seen(sid):
                if self.people.repeat(sid, core, school, file, line) and is_student:
                    self.read_contact(cols, cells, sid, school, file, line)
                continue
            names = ctx.names(
                cols.get(cells, "First_name"),
                cols.get(cells, "Last_name"),
                file,
                line,
                (cols.name("First_name"), cols.name("Last_name")),
            )
            if names is None:
                continue
            given, family = names
            number_key = "Student_number" if is_student else "Teacher_number"
            self.people.add(
                PersonRecord(
                    sourced_id=sid,
                    role=role,
                    given_name=given,
                    family_name=family,
                    file=file,
                    line=line,
                    username=ctx.ident(cols.get(cells, "Username")) or None,
                    email=ctx.email(cols.get(cells, email_key), file, line, cols.name(email_key)),
                    grade=ctx.grade(cols.get(cells, "Grade"), file, line, cols.name("Grade"))
                    if is_student
                    else None,
                    student_number=ctx.student_number(
                        cols.get(cells, number_key), file, line, cols.name(number_key)
                    )
                    if is_student
                    else None,
                    school_ids=ctx.ids((school,) if school else ()),
                    password=cols.get(cells, "Password") or None,
                    middle_name=ctx.name(
                        cols.get(cells, "Middle_name"), file, line, cols.name("Middle_name")
                    )
                    or None,
                ),
                core,
            )
            if is_student:
                self.read_contact(cols, cells, sid, school, file, line)

    def read_contact(
        self,
        cols: Columns,
        cells: list[str],
        student: str,
        school: str | None,
        file: str,
        line: int,
    ) -> None:
        """Turn a student row's Contact_* columns into a parent and a link."""
        ctx = self.ctx
        raw_name = cols.get(cells, "Contact_name")
        raw_email = cols.get(cells, "Contact_email")
        raw_phone = cols.get(cells, "Contact_phone")
        sis = ctx.ident(cols.get(cells, "Contact_sis_id"))
        if not (raw_name or raw_email or raw_phone or sis):
            return
        relation = cols.get(cells, "Contact_relationship")
        if _word(relation) == "self":
            self.skipped_contacts += 1
            return
        word, column = contact_word(cols.get(cells, "Contact_type"), relation)
        shown = clean_text(raw_name or raw_email or raw_phone or sis, 60)[0]
        if not ctx.contact_is_parent(
            word, file, line, cols.name(column), f"Contact '{shown}' of student '{student}'"
        ):
            return
        name = ctx.name(raw_name, file, line, cols.name("Contact_name"), limit=200)
        if not name:
            self.log.warning(
                file,
                line,
                cols.name("Contact_name"),
                "The contact on this row has no Contact_name, so no parent was made for it.",
                kind="contact-no-name",
            )
            return
        email = ctx.email(raw_email, file, line, cols.name("Contact_email"))
        phone = ctx.phone([raw_phone], file, line, cols.name("Contact_phone"))
        name_key = identity_key(name)
        email_key = identity_key(email) if email else None
        parent_id = sis
        if not parent_id and email_key:
            parent_id = self.by_email.get(email_key)
        if not parent_id and phone:
            parent_id = self.by_phone_name.get((phone, name_key))
        if not parent_id:
            if email_key:
                parent_id = _derived_id("email", email_key)
            elif phone:
                parent_id = _derived_id("phone", phone, name_key)
            else:
                parent_id = _derived_id("student", student, name_key)
        if email_key:
            self.by_email.setdefault(email_key, parent_id)
        if phone:
            self.by_phone_name.setdefault((phone, name_key), parent_id)
        contact = self.contacts.get(parent_id)
        if contact is None:
            given, family = split_full_name(name)
            contact = _Contact(given, family, email, phone, file, line)
            self.contacts[parent_id] = contact
        else:
            contact.email = contact.email or email
            contact.phone = contact.phone or phone
        if school and school not in contact.schools:
            contact.schools.append(school)
        self.roster.guardians.append(GuardianRecord(parent_id, student, file, line))

    def read_sections(self) -> None:
        """Read sections.csv into classes and teacher enrollments."""
        opened = self._open(
            "sections.csv", SECTION_FIELDS, ("School_id", "Section_id"), SECTION_PASSTHROUGH
        )
        if opened is None:
            return
        table, cols = opened
        ctx, file = self.ctx, table.file
        teacher_keys = ["Teacher_id", *(f"Teacher_{n}_id" for n in range(2, 21))]
        repeats = Repeats("teacher")
        for line, cells in table.rows():
            sid = ctx.ident(cols.get(cells, "Section_id"))
            if not sid:
                self.log.error(
                    file, line, cols.name("Section_id"), "Section_id is empty; the row was skipped."
                )
                continue
            school = self._school(cols.get(cells, "School_id"), file, line, cols.name("School_id"))
            title = cols.get(cells, "Name") or cols.get(cells, "Course_name") or sid
            grade = ctx.grade(cols.get(cells, "Grade"), file, line, cols.name("Grade"))
            self.section_ids.add(sid)
            self.roster.classes.append(
                ClassRecord(
                    sourced_id=sid,
                    school_id=school,
                    title=ctx.text(title, file, line, cols.name("Name"), limit=200),
                    class_code=ctx.text(
                        cols.get(cells, "Section_number") or cols.get(cells, "Course_number"),
                        file,
                        line,
                        cols.name("Section_number"),
                    )
                    or None,
                    grades=ctx.ids((grade,) if grade else ()),
                    file=file,
                    line=line,
                )
            )
            named = [t for key in teacher_keys if (t := ctx.ident(cols.get(cells, key)))]
            # The same teacher in two co-teacher columns is one enrollment, kept where
            # first named (Teacher_id first: the primary teacher).
            teachers = list(dict.fromkeys(named))
            for _ in range(len(named) - len(teachers)):
                repeats.add(file, line, None)
            if not teachers:
                self.log.warning(
                    file,
                    line,
                    cols.name("Teacher_id"),
                    f"Section '{sid}' has no teacher.",
                    kind="no-teacher",
                )
            for n, teacher in enumerate(teachers):
                if self.people.role_of(teacher) is None:
                    self.log.warning(
                        file,
                        line,
                        cols.name(teacher_keys[0]),
                        f"Teacher '{teacher}' of section '{sid}' is not in teachers.csv; that "
                        "teacher was not enrolled.",
                        kind="dangling-teacher",
                    )
                    continue
                self.roster.enrollments.append(
                    EnrollmentRecord(sid, teacher, "teacher", n == 0, file, line)
                )
        repeats.report(log=self.log, detail="named twice in one section's teacher columns")

    def read_enrollments(self) -> None:
        """Read enrollments.csv (students only)."""
        opened = self._open("enrollments.csv", ENROLLMENT_FIELDS, ("Section_id", "Student_id"))
        if opened is None:
            return
        table, cols = opened
        ctx, file = self.ctx, table.file
        for line, cells in table.rows():
            section = ctx.ident(cols.get(cells, "Section_id"))
            student = ctx.ident(cols.get(cells, "Student_id"))
            if not section or not student:
                self.log.error(
                    file, line, None, "Section_id or Student_id is empty; the row was skipped."
                )
                continue
            if section not in self.section_ids:
                self.log.warning(
                    file,
                    line,
                    cols.name("Section_id"),
                    f"Section '{section}' is not in sections.csv; the enrollment was skipped.",
                    kind="dangling-class",
                )
                continue
            if self.people.role_of(student) != "student":
                self.log.warning(
                    file,
                    line,
                    cols.name("Student_id"),
                    f"Student '{student}' is not in students.csv; the enrollment was skipped.",
                    kind="dangling-user",
                )
                continue
            self.roster.enrollments.append(
                EnrollmentRecord(section, student, "student", False, file, line)
            )

    def make_parents(self) -> None:
        """Add one parent PersonRecord per deduplicated contact."""
        for parent_id, c in self.contacts.items():
            if self.people.seen(parent_id):
                self.log.error(
                    c.file,
                    c.line,
                    "Contact_sis_id",
                    f"Contact '{parent_id}' has the same id as a student, teacher or staff "
                    "member; give contacts their own ids.",
                )
                continue
            self.people.add(
                PersonRecord(
                    sourced_id=parent_id,
                    role="parent",
                    given_name=c.given,
                    family_name=c.family,
                    file=c.file,
                    line=c.line,
                    email=c.email,
                    phone=c.phone,
                    school_ids=self.ctx.ids(tuple(c.schools)),
                ),
                (),
            )

    def read(self) -> Roster:
        """Read every Clever file that was uploaded."""
        self.read_schools()
        self.read_people(
            "students.csv",
            STUDENT_FIELDS,
            "Student_id",
            "Student_email",
            "student",
            STUDENT_PASSTHROUGH,
            required_file=True,
        )
        self.read_people(
            "teachers.csv",
            TEACHER_FIELDS,
            "Teacher_id",
            "Teacher_email",
            "teacher",
            TEACHER_PASSTHROUGH,
            required_file=True,
        )
        self.read_people(
            "staff.csv",
            STAFF_FIELDS,
            "Staff_id",
            "Staff_email",
            "staff",
            STAFF_PASSTHROUGH,
            required_file=False,
        )
        self.read_sections()
        self.read_enrollments()
        self.make_parents()
        self.roster.people = self.people.people
        present = {name.casefold() for name in self.files.names()}
        self.roster.modes = {
            "orgs": "bulk" if "schools.csv" in present else "absent",
            "users": "bulk",
            "classes": "bulk" if "sections.csv" in present else "absent",
            "enrollments": "bulk" if "enrollments.csv" in present else "absent",
        }
        if self.skipped_contacts:
            self.log.note(
                f"{self.skipped_contacts} contact(s) marked as the student themself were not "
                "made parents."
            )
        known = {
            "schools.csv",
            "students.csv",
            "teachers.csv",
            "staff.csv",
            "sections.csv",
            "enrollments.csv",
        }
        ignored = sorted(n for n in self.files.names() if n.casefold() not in known)
        if ignored:
            self.log.note(f"Not a Clever file, so not read: {', '.join(ignored)}.")
        return self.roster


def read_clever(files: FileSet, ctx: ReadContext) -> Roster:
    """Read a Clever SFTP upload; it is always a complete snapshot."""
    return CleverReader(files, ctx).read()
