"""Read a Clever SFTP upload (schools, students, teachers, staff, sections, enrollments)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from webapp.roster.context import FileSet, ReadContext
from webapp.roster.core import FileSpec, Row, cols, open_sheet, person
from webapp.roster.dedupe import Repeats
from webapp.roster.normalise import clean_text, identity_key, split_full_name
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

SCHOOLS = FileSpec(
    "schools.csv",
    cols(
        ("sid", "School_id", "raw"),
        ("name", "School_name", "text"),
        ("number", "School_number", "skip"),
    ),
    required=("sid", "name"),
    passthrough=(
        "State_id Nces_id Low_grade High_grade Principal Principal_email School_address "
        "School_city School_state School_zip School_phone"
    ).split(),
)
# The columns every people file shares; the id and email columns differ per file.
_PERSON = (
    ("school", "School_id", "raw"),
    ("given", "First_name", "raw"),
    ("middle", "Middle_name", "name"),
    ("family", "Last_name", "raw"),
    ("username", "Username", "id"),
    ("password", "Password", "raw"),
)
_NEEDED = (
    "A Clever upload is a full snapshot and needs {name}; without it every {role} would "
    "look removed. Add the file and upload again."
)
STUDENTS = FileSpec(
    "students.csv",
    cols(
        ("sid", "Student_id", "raw"),
        *_PERSON,
        ("number", "Student_number", "number"),
        ("grade", "Grade", "grade"),
        ("email", "Student_email", "email"),
        ("contact_relationship", "Contact_relationship", "raw"),
        ("contact_type", "Contact_type", "raw"),
        ("contact_name", "Contact_name", "raw"),
        ("contact_phone", "Contact_phone", "raw"),
        ("contact_email", "Contact_email", "raw"),
        ("contact_sis_id", "Contact_sis_id", "id"),
    ),
    required=("school", "sid", "given", "family"),
    passthrough=(
        "State_id Gender Dob Race Hispanic_Latino Home_language Ell_status Frl_status "
        "Iep_status Student_street Student_city Student_state Student_zip Contact_phone_type"
    ).split(),
    missing=_NEEDED.replace("{role}", "student"),
)
TEACHERS = FileSpec(
    "teachers.csv",
    cols(
        ("sid", "Teacher_id", "raw"),
        *_PERSON,
        ("teacher_number", "Teacher_number", "raw"),
        ("email", "Teacher_email", "email"),
    ),
    required=("school", "sid", "given", "family"),
    passthrough=("State_teacher_id", "Title"),
    missing=_NEEDED.replace("{role}", "teacher"),
)
STAFF = FileSpec(
    "staff.csv",
    cols(("sid", "Staff_id", "raw"), *_PERSON, ("email", "Staff_email", "email")),
    required=("school", "sid", "given", "family"),
    passthrough=("Department", "Title", "Role"),
)
# Some exports number the first teacher column too (Teacher_1_id .. Teacher_10_id).
_TEACHER_FIELDS = ("teacher", *(f"teacher_{n}" for n in range(2, 21)))
SECTIONS = FileSpec(
    "sections.csv",
    cols(
        ("school", "School_id", "raw"),
        ("sid", "Section_id", "raw"),
        ("teacher", "Teacher_id", "id", "Teacher_1_id"),
        *((f"teacher_{n}", f"Teacher_{n}_id", "id") for n in range(2, 21)),
        ("name", "Name", "raw", "Section_name"),
        ("number", "Section_number", "raw"),
        ("grade", "Grade", "grade"),
        ("course", "Course_name", "raw"),
        ("course_number", "Course_number", "raw"),
        ("period", "Period", "skip"),
    ),
    required=("school", "sid"),
    passthrough=("Course_description", "Subject", "Term_name", "Term_start", "Term_end"),
)
ENROLLMENTS = FileSpec(
    "enrollments.csv",
    cols(
        ("school", "School_id", "skip"),
        ("section", "Section_id", "id"),
        ("student", "Student_id", "id"),
    ),
    required=("section", "student"),
)
# What must agree when a person's row repeats (one row per school or per contact).
_CORE = (
    "given",
    "middle",
    "family",
    "grade",
    "email",
    "number",
    "teacher_number",
    "username",
    "password",
)

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
    """Return the word that says who a contact is, and the field it came from.

    Contact_relationship decides when it says something; Clever's enumerations are
    broken in real files ("Uncle" as a Contact_type), so Contact_type is read as free
    text when it does not. A contact with neither is taken as a guardian.
    """
    if _word(relation) not in ("", "other"):
        return relation, "contact_relationship"
    if not _word(relation) and (_word(kind) in _GUARDIAN_TYPES or not _word(kind)):
        return "guardian", "contact_type"
    return (kind, "contact_type") if kind.strip() else (relation, "contact_relationship")


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

    def _school(self, row: Row) -> str | None:
        school = self.ctx.ident(row.raw("school"))
        if not school:
            return None
        if self.school_ids is not None and school not in self.school_ids:
            row.warning(
                "school",
                f"School '{school}' is not in schools.csv; the reference was ignored.",
                kind="dangling-school",
            )
            return None
        return school

    def read_schools(self) -> None:
        """Read schools.csv."""
        sheet = open_sheet(self.files, self.ctx, SCHOOLS)
        if sheet is None:
            return
        self.school_ids = set()
        for row in sheet.rows():
            sid = row.id("sid")
            if not sid:
                continue
            self.school_ids.add(sid)
            self.roster.schools.append(SchoolRecord(sid, row["name"] or sid, row.file, row.line))

    def read_people(self, spec: FileSpec, role: Role) -> None:
        """Read students.csv, teachers.csv or staff.csv."""
        sheet = open_sheet(self.files, self.ctx, spec)
        if sheet is None:
            return
        is_student = role == "student"
        for row in sheet.rows():
            sid = row.id("sid")
            if not sid:
                continue
            school = self._school(row)
            core = tuple(row.raw(field) for field in _CORE)
            if self.people.seen(sid):
                if self.people.repeat(sid, core, school, row.file, row.line) and is_student:
                    self.read_contact(row, sid, school)
                continue
            record = person(row, sid, role, schools=(school,) if school else ())
            if record is None:
                continue
            self.people.add(record, core)
            if is_student:
                self.read_contact(row, sid, school)

    def read_contact(self, row: Row, student: str, school: str | None) -> None:
        """Turn a student row's Contact_* columns into a parent and a link."""
        ctx, file, line = self.ctx, row.file, row.line
        raw_name, raw_email = row.raw("contact_name"), row.raw("contact_email")
        raw_phone, sis = row.raw("contact_phone"), row["contact_sis_id"]
        if not (raw_name or raw_email or raw_phone or sis):
            return
        relation = row.raw("contact_relationship")
        if _word(relation) == "self":
            self.skipped_contacts += 1
            return
        word, field = contact_word(row.raw("contact_type"), relation)
        shown = clean_text(raw_name or raw_email or raw_phone or sis, 60)[0]
        if not ctx.contact_is_parent(
            word, file, line, row.column(field), f"Contact '{shown}' of student '{student}'"
        ):
            return
        name = ctx.name(raw_name, file, line, row.column("contact_name"), limit=200)
        if not name:
            row.warning(
                "contact_name",
                "The contact on this row has no Contact_name, so no parent was made for it.",
                kind="contact-no-name",
            )
            return
        email = ctx.email(raw_email, file, line, row.column("contact_email"))
        phone = ctx.phone([raw_phone], file, line, row.column("contact_phone"))
        parent_id = self._contact_id(sis, student, identity_key(name), email, phone)
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

    def _contact_id(
        self, sis: str, student: str, name_key: str, email: str | None, phone: str | None
    ) -> str:
        """Return a contact's id: its SIS id, else one shared by its email or phone and name."""
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
        return parent_id

    def read_sections(self) -> None:
        """Read sections.csv into classes and teacher enrollments."""
        sheet = open_sheet(self.files, self.ctx, SECTIONS)
        if sheet is None:
            return
        repeats = Repeats("teacher")
        for row in sheet.rows():
            sid = row.id("sid")
            if not sid:
                continue
            school = self._school(row)
            title = row.raw("name") or row.raw("course") or sid
            grade = row["grade"]
            code = row.raw("number") or row.raw("course_number")
            self.section_ids.add(sid)
            self.roster.classes.append(
                ClassRecord(
                    sourced_id=sid,
                    school_id=school,
                    title=self.ctx.text(title, row.file, row.line, row.column("name"), limit=200),
                    class_code=self.ctx.text(code, row.file, row.line, row.column("number"))
                    or None,
                    grades=self.ctx.ids((grade,) if grade else ()),
                    file=row.file,
                    line=row.line,
                )
            )
            self._teach(row, sid, repeats)
        repeats.report(log=self.log, detail="named twice in one section's teacher columns")

    def _teach(self, row: Row, section: str, repeats: Repeats) -> None:
        """Enrol a section's teachers, the first named as its primary teacher."""
        named = [t for field in _TEACHER_FIELDS if (t := row[field])]
        # The same teacher in two co-teacher columns is one enrollment, kept where
        # first named (Teacher_id first: the primary teacher).
        teachers = list(dict.fromkeys(named))
        for _ in range(len(named) - len(teachers)):
            repeats.add(row.file, row.line, None)
        if not teachers:
            row.warning("teacher", f"Section '{section}' has no teacher.", kind="no-teacher")
        for n, teacher in enumerate(teachers):
            if self.people.role_of(teacher) is None:
                row.warning(
                    "teacher",
                    f"Teacher '{teacher}' of section '{section}' is not in teachers.csv; that "
                    "teacher was not enrolled.",
                    kind="dangling-teacher",
                )
                continue
            self.roster.enrollments.append(
                EnrollmentRecord(section, teacher, "teacher", n == 0, row.file, row.line)
            )

    def read_enrollments(self) -> None:
        """Read enrollments.csv (students only)."""
        sheet = open_sheet(self.files, self.ctx, ENROLLMENTS)
        if sheet is None:
            return
        for row in sheet.rows():
            section, student = row["section"], row["student"]
            if not section or not student:
                row.error(None, "Section_id or Student_id is empty; the row was skipped.")
                continue
            if section not in self.section_ids:
                row.warning(
                    "section",
                    f"Section '{section}' is not in sections.csv; the enrollment was skipped.",
                    kind="dangling-class",
                )
                continue
            if self.people.role_of(student) != "student":
                row.warning(
                    "student",
                    f"Student '{student}' is not in students.csv; the enrollment was skipped.",
                    kind="dangling-user",
                )
                continue
            self.roster.enrollments.append(
                EnrollmentRecord(section, student, "student", False, row.file, row.line)
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
        self.read_people(STUDENTS, "student")
        self.read_people(TEACHERS, "teacher")
        self.read_people(STAFF, "staff")
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
