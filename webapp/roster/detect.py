"""Tell which roster format a set of uploaded files is."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

from webapp.roster.columns import norm_header
from webapp.roster.context import FileSet
from webapp.roster.decode import peek_table

_CLEVER_IDS = {"studentid", "teacherid", "sectionid", "staffid"}
# ROSTER_FORMATS.md section 3: the files of a Clever SFTP upload (staff.csv since v2, and
# admins.csv, deprecated), of which these five make a whole Clever export.
_CLEVER_FILES = {
    "schools.csv",
    "students.csv",
    "teachers.csv",
    "sections.csv",
    "enrollments.csv",
    "staff.csv",
    "admins.csv",
}
_CLEVER_REQUIRED = {
    "schools.csv",
    "students.csv",
    "teachers.csv",
    "sections.csv",
    "enrollments.csv",
}
_UK_FILES = {"student.csv", "teacher.csv", "section.csv", "school.csv"}


def first_row(data: bytes) -> list[str]:
    """Return the header row of a file, decoded as the import decodes it, or [] if unreadable."""
    return peek_table("file", data, samples=0)[0]


def read_headers(files: Mapping[str, bytes], *, has_header: bool = True) -> dict[str, list[str]]:
    """Return each file's column names, decoded exactly as the import reads the rows."""
    return {name: columns for name, (columns, _) in peek_files(files, has_header).items()}


def peek_files(
    files: Mapping[str, bytes], has_header: bool = True, samples: int = 0
) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Return each file's column names and first rows, for a column-mapping screen."""
    return {
        name: peek_table(name, data, has_header=has_header, samples=samples)
        for name, data in FileSet(files)
    }


def manifest_version(data: bytes) -> str:
    """Return oneroster.version from manifest.csv bytes ('' if absent)."""
    head = data[:65536].decode("utf-8", errors="replace").lstrip("\ufeff")
    try:
        for row in csv.reader(io.StringIO(head, newline="")):
            if len(row) >= 2 and row[0].strip().casefold() == "oneroster.version":
                return row[1].strip()
    except csv.Error:
        return ""
    return ""


def _looks_like_clever(rows: Mapping[str, list[str]]) -> bool:
    """Tell a Clever upload from a spreadsheet folder that shares its id columns.

    An SIS's own export (students, parents, staff, sections, rosters) often has School ID
    and Student ID columns too. Files Clever has not, while Clever's own are missing, make
    a spreadsheet folder, which the mapping page reads; so do several files without
    students.csv or teachers.csv (every Clever export has both) unless their headers are
    spelt as Clever spells them (School_id), when the Clever reader says what is missing.
    """
    headers = {name: {norm_header(h) for h in row} for name, row in rows.items()}
    if not any("schoolid" in keys and keys & _CLEVER_IDS for keys in headers.values()):
        return False
    if len(headers) == 1:
        return True
    missing = _CLEVER_REQUIRED - headers.keys()
    if headers.keys() - _CLEVER_FILES and missing:
        return False
    if missing & {"students.csv", "teachers.csv"}:
        return any("school_id" in (h.casefold() for h in row) for row in rows.values())
    return True


def detect_format(files: Mapping[str, bytes]) -> str:
    """Return the format of an upload: a key of records.FORMATS.

    Order (ROSTER_FORMATS.md section 6): manifest.csv means OneRoster at the
    manifest's version; Student_id and School_id headers mean Clever, unless the files
    are a spreadsheet folder rather than Clever's (see _looks_like_clever);
    relationships.csv or roles.csv without a manifest mean SDS v2.1; SDS "UK
    format" headers mean sds-uk; anything else is a spreadsheet.
    """
    fs = FileSet(files)
    manifest = fs.get("manifest.csv")
    if manifest is not None:
        return (
            "oneroster-1.2" if manifest_version(manifest[1]).startswith("1.2") else "oneroster-1.1"
        )
    rows = {name.casefold(): first_row(data) for name, data in fs}
    if _looks_like_clever(rows):
        return "clever"
    headers = {name: {norm_header(h) for h in row} for name, row in rows.items()}
    if "relationships.csv" in headers or "roles.csv" in headers:
        return "sds-2.1"
    users = headers.get("users.csv")
    if users is not None and "orgs.csv" in headers:
        if {"role", "orgsourcedids"} <= users:
            return "oneroster-1.1"
        return "sds-2.1"
    for name, keys in headers.items():
        if "schooldfenumber" in keys or "dfenumber" in keys:
            return "sds-uk"
        if name in _UK_FILES and "id" in keys and ("firstname" in keys or "sectionname" in keys):
            return "sds-uk"
    return "csv"
