"""The files of a spreadsheet upload: each file's role, guessed and chosen, and its columns.

A spreadsheet upload may hold several files: students, parents (with a child id column),
staff and teachers, classes and class memberships. Each file's role is guessed from its name
and headers and shown to the admin to confirm; people files need a role column or a role
the admin chose, never a silent default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from webapp.roster.columns import norm_header
from webapp.roster.decode import Table
from webapp.roster.problems import ProblemLog
from webapp.roster.sheet_columns import FIELDS, LINK_ALIASES, guess_mapping

# students/parents/staff fix or limit the role of everyone in the file; people need a role
# column (or a role chosen for the whole file); links is the older parent-student links file.
FILE_ROLES = ("students", "parents", "staff", "people", "classes", "memberships", "links", "ignore")
PEOPLE_ROLES = ("students", "parents", "staff", "people")
# The account role a file role gives everyone in it.
FIXED_ROLES = {"students": "student", "parents": "parent"}
# The roles a staff file may hold, row by row or for the whole file.
STAFF_ROLES = ("teacher", "staff", "admin")

CLASS_ALIASES: dict[str, tuple[str, ...]] = {
    "class_id": (
        "Class ID",
        "Section ID",
        "Course section ID",
        "Group ID",
        "ID",
        "Klassen-ID",
        "Kurs-ID",
        "ID classe",
        "ID clase",
        "Klas-ID",
    ),
    "title": (
        "Title",
        "Class name",
        "Class title",
        "Section name",
        "Course name",
        "Name",
        "Klasse",
        "Kurs",
        "Bezeichnung",
        "Classe",
        "Nom",
        "Clase",
        "Nombre",
        "Klas",
        "Naam",
    ),
    "class_code": ("Code", "Class code", "Section number", "Course code", "Kürzel", "Kurzname"),
    "teacher_id": (
        "Teacher ID",
        "Teacher IDs",
        "Teacher",
        "Teachers",
        "Staff ID",
        "Lehrer-ID",
        "Lehrer",
        "ID enseignant",
        "Enseignant",
        "ID profesor",
        "Docent-ID",
    ),
    "school": (
        "School",
        "School ID",
        "School name",
        "School code",
        "Schule",
        "Schulnummer",
        "École",
        "Escuela",
    ),
}
MEMBERSHIP_ALIASES: dict[str, tuple[str, ...]] = {
    "class_id": (
        "Class ID",
        "Section ID",
        "Group ID",
        "Class",
        "Section",
        "Klassen-ID",
        "Kurs-ID",
        "Klasse",
        "Kurs",
        "ID classe",
        "ID clase",
        "Klas-ID",
    ),
    "person_id": (
        "Person ID",
        "User ID",
        "Member ID",
        "Student ID",
        "Pupil ID",
        "Teacher ID",
        "Staff ID",
        "Personen-ID",
        "Schüler-ID",
        "Lehrer-ID",
        "ID élève",
        "Leerling-ID",
        "ID",
    ),
    "role": ("Role", "Type", "Member type", "Rolle", "Rôle", "Rol"),
}
LINK_FIELDS = ("link_parent", "link_student")

# Words in a file's name that say its role, checked in order: "class_memberships" is a
# memberships file before it is a classes file, "student_contacts" a parents file.
_NAME_WORDS: tuple[tuple[str, str], ...] = (
    ("member", "memberships"),
    ("enrol", "memberships"),
    ("roster", "memberships"),
    ("teilnehm", "memberships"),
    ("inscri", "memberships"),
    ("class", "classes"),
    ("section", "classes"),
    ("course", "classes"),
    ("kurs", "classes"),
    ("parent", "parents"),
    ("guardian", "parents"),
    ("contact", "parents"),
    ("eltern", "parents"),
    ("staff", "staff"),
    ("teacher", "staff"),
    ("employee", "staff"),
    ("lehrer", "staff"),
    ("personal", "staff"),
    ("enseignant", "staff"),
    ("profesor", "staff"),
    ("docent", "staff"),
    ("student", "students"),
    ("pupil", "students"),
    ("schuler", "students"),
    ("schueler", "students"),
    ("eleve", "students"),
    ("alumn", "students"),
    ("leerling", "students"),
)
_TEACHER_WORDS = ("teacher", "lehrer", "enseignant", "profesor", "docent")
_NAME_FIELDS = ("given_name", "family_name", "name")


def fields_of(role: str) -> tuple[str, ...]:
    """Return the fields a file of this role maps its columns to."""
    if role in PEOPLE_ROLES:
        return FIELDS
    if role == "classes":
        return tuple(CLASS_ALIASES)
    if role == "memberships":
        return tuple(MEMBERSHIP_ALIASES)
    if role == "links":
        return LINK_FIELDS
    return ()


def guess_by_aliases(
    headers: Sequence[str], aliases: Mapping[str, tuple[str, ...]]
) -> dict[str, str]:
    """Guess {field: header} by each field's names, most specific first."""
    by_key: dict[str, str] = {}
    for header in headers:
        if header.strip():
            by_key.setdefault(norm_header(header), header)
    mapping: dict[str, str] = {}
    for field, names in aliases.items():
        for name in (field, *names):
            header = by_key.get(norm_header(name))
            if header is not None and header not in mapping.values():
                mapping[field] = header
                break
    return mapping


def _name_role(name: str) -> str | None:
    stem = norm_header(name.rsplit("/", 1)[-1].rsplit(".", 1)[0])
    return next((role for word, role in _NAME_WORDS if word in stem), None)


def guess_file_role(name: str, headers: Sequence[str]) -> str | None:
    """Guess a file's role from its headers and name; None when neither says.

    Class and membership files are told by their columns (a class id and no names);
    people files by a role column (a mix of roles), else by their name, else by a child id
    column (parents).
    """
    people = guess_mapping(headers)
    has_names = any(f in people for f in _NAME_FIELDS)
    if not has_names:
        classes = guess_by_aliases(headers, CLASS_ALIASES)
        members = guess_by_aliases(headers, MEMBERSHIP_ALIASES)
        if "person_id" in members and "class_id" in members and _name_role(name) != "classes":
            return "memberships"
        if "class_id" in classes and "title" in classes:
            return "classes"
        if LINK_FIELDS == tuple(guess_by_aliases(headers, LINK_ALIASES)):
            return "links"
    by_name = _name_role(name)
    if "role" in people:
        # A role column says who each row is (a parents file's: the relationship; a
        # staff file's may only say staff roles).
        return by_name if by_name in ("staff", "parents") else "people"
    if by_name is not None:
        return by_name
    if "linked_student" in people:
        return "parents"
    return None


def guess_file_columns(role: str, name: str, headers: Sequence[str]) -> dict[str, str]:
    """Guess {field: header} (or role constant) for a file of this role."""
    if role == "classes":
        return guess_by_aliases(headers, CLASS_ALIASES)
    if role == "memberships":
        return guess_by_aliases(headers, MEMBERSHIP_ALIASES)
    if role == "links":
        return guess_by_aliases(headers, LINK_ALIASES)
    if role not in PEOPLE_ROLES:
        return {}
    mapping = guess_mapping(headers)
    if role == "parents" and "linked_student" not in mapping:
        # A parents file's "Student ID" is the child, not the parent's own id.
        sid = mapping.get("sourced_id")
        if sid and norm_header(sid) in ("studentid", "pupilid", "childid"):
            mapping["linked_student"] = mapping.pop("sourced_id")
    if role == "students":
        mapping.pop("role", None)
    elif role == "staff" and "role" not in mapping:
        stem = norm_header(name)
        if any(w in stem for w in _TEACHER_WORDS) and "staff" not in stem:
            mapping["role"] = "=teacher"
    return mapping


def role_for_name(name: str) -> str | None:
    """Return the role constant a people file's name says ("students.csv": "=student")."""
    role = _name_role(name)
    if role == "staff":
        return guess_file_columns("staff", name, ()).get("role")
    return {"students": "=student", "parents": "=parent"}.get(role or "")


def mapped_role(role: str, columns: Mapping[str, str]) -> str | None:
    """Return what still has to be said about who a people file holds, or None if said.

    A staff file needs a role column or "staff"/"teacher" for everyone; a mixed people file
    a role column or one role for everyone. Students and parents files say it themselves.
    """
    if role in FIXED_ROLES or role not in PEOPLE_ROLES:
        return None
    chosen = columns.get("role", "")
    if role == "staff":
        if chosen and (not chosen.startswith("=") or chosen[1:] in STAFF_ROLES):
            return None
        return (
            "There is no role column, so say whether this file holds staff or teachers "
            "(or choose its role column). Staff are never imported as students."
        )
    if chosen:
        return None
    return (
        "There is no role column, so say which role everyone in this file holds (students, "
        "parents, staff or teachers), or choose the file's role. Nobody is made a student "
        "by default."
    )


FileSpecs = list[tuple[Table, str, dict[str, str]]]


def file_specs(
    tables: list[Table], mapping: Mapping[str, Any] | None, log: ProblemLog
) -> FileSpecs:
    """Return (table, file role, columns) for each file to read; log the files without one.

    The mapping gives each file its role and columns ("files"), or is one flat mapping
    for a people file (and an older links file beside it); None guesses both.
    """
    per_file = (mapping or {}).get("files")
    if isinstance(per_file, dict):
        return _chosen_specs(tables, per_file, log)
    if mapping is None:
        return _guessed_specs(tables, log)
    if len(tables) > 2:
        log.error(
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

    tables = sorted(tables, key=score, reverse=True)
    specs = [(tables[0], _people_role(tables[0], mapping), dict(mapping))]
    if len(tables) > 1:
        specs.append((tables[1], "links", {}))
    return specs


def _people_role(table: Table, mapping: Mapping[str, str]) -> str:
    """Return the role of a people file mapped by one flat mapping."""
    said = mapping.get("role")
    if said:
        return {"=student": "students", "=parent": "parents"}.get(said, "people")
    named = guess_file_role(table.file, ())
    return named if named in PEOPLE_ROLES else "people"


def _chosen_specs(tables: list[Table], per_file: Mapping[str, Any], log: ProblemLog) -> FileSpecs:
    specs = []
    for table in tables:
        spec = per_file.get(table.file)
        role = spec.get("role") if isinstance(spec, dict) else None
        if role not in FILE_ROLES:
            log.error(
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


def _guessed_specs(tables: list[Table], log: ProblemLog) -> FileSpecs:
    specs = []
    for table in tables:
        role = guess_file_role(table.file, table.header)
        if role is None and len(tables) == 1:
            role = "people"
        if role is None:
            log.error(
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
