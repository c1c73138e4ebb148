"""The declarative reader core: formats declare files and columns, one builder reads rows.

A format describes each file it reads as a FileSpec: which columns it has (the
Keyslip field each fills, the header and its aliases, the normaliser that cleans
it), which are required and what to say when the file is missing. open_sheet()
matches a file's header row to that description; Sheet.rows() walks the rows; a
Row hands out values cleaned by the declared normaliser through ReadContext, so
each rule (names, emails, phones, grades, ids, flags) is written once and every
problem carries the file, line and column. person() builds a PersonRecord from
the standard person fields for every format.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from webapp.roster.columns import Columns
from webapp.roster.context import FileSet, ReadContext, split_list
from webapp.roster.decode import Table
from webapp.roster.records import PersonRecord, Role, Status

# How a column's value is cleaned (see Row.__getitem__): "raw" only strips it.
Clean = Literal[
    "raw",
    "id",
    "ids",
    "text",
    "name",
    "email",
    "phone",
    "grade",
    "first_grade",
    "grades",
    "number",
    "flag",
]


@dataclass(frozen=True, slots=True)
class Col:
    """One column a file may have: the field it fills, its header and aliases, its normaliser.

    limit bounds a "text" or "name" value; default is what an empty "flag" reads as.
    """

    field: str
    header: str
    aliases: tuple[str, ...] = ()
    clean: Clean = "raw"
    limit: int = 100
    default: bool = False


@dataclass(frozen=True, slots=True)
class FileSpec:
    """One file of a format: its name, columns, required fields and known unused headers.

    missing is the error logged when the upload lacks the file ({name} is filled in);
    None means the file is optional.
    """

    name: str
    columns: tuple[Col, ...]
    required: tuple[str, ...] = ()
    passthrough: tuple[str, ...] = ()
    missing: str | None = None

    def header(self, field: str) -> str:
        """Return the header the format gives a field."""
        for col in self.columns:
            if col.field == field:
                return col.header
        raise KeyError(field)


def cols(*specs: tuple[Any, ...]) -> tuple[Col, ...]:
    """Build Cols from (field, header, clean, *aliases) tuples, the short form specs use."""
    return tuple(
        Col(field, header, tuple(aliases), clean) for field, header, clean, *aliases in specs
    )


class Sheet:
    """One opened file matched to its FileSpec: column positions and names by field."""

    __slots__ = ("spec", "table", "file", "ctx", "columns", "index", "names", "specs")

    def __init__(self, spec: FileSpec, table: Table, columns: Columns, ctx: ReadContext) -> None:
        self.spec = spec
        self.table = table
        self.file = table.file
        self.ctx = ctx
        self.columns = columns
        self.specs = {col.field: col for col in spec.columns}
        self.index = {
            col.field: columns.index[col.header]
            for col in spec.columns
            if col.header in columns.index
        }
        # A column the file lacks is named as the format spells it, for messages.
        self.names = {col.field: columns.name(col.header) for col in spec.columns}

    def has(self, field: str) -> bool:
        """Tell whether the file has a column for field."""
        return field in self.index

    def column(self, field: str) -> str:
        """Return the header of a field as the file spells it (for messages)."""
        return self.names[field]

    def picker(self, fields: Sequence[str]) -> Any:
        """Return a function giving the raw values of fields on a row (see Columns.picker)."""
        return self.columns.picker([self.spec.header(f) for f in fields])

    def rows(self) -> Iterator[Row]:
        """Yield each data row as a Row."""
        for line, cells in self.table.rows():
            yield Row(self, cells, line)

    def lines(self) -> Iterator[tuple[int, list[str]]]:
        """Yield (line, cells) for the hot loops that pick values with picker()."""
        return self.table.rows()


def open_sheet(files: FileSet, ctx: ReadContext, spec: FileSpec) -> Sheet | None:
    """Open and match one file of a format; None (problems logged) when it cannot be read."""
    found = files.get(spec.name)
    if found is None:
        if spec.missing:
            ctx.log.error(spec.name, None, None, spec.missing.format(name=spec.name))
        return None
    table = ctx.open(*found)
    return None if table is None else match_sheet(table, spec, ctx)


def match_sheet(table: Table, spec: FileSpec, ctx: ReadContext) -> Sheet | None:
    """Match a file's header to spec; None (error logged) if a required column is missing."""
    wanted = {col.header: col.aliases for col in spec.columns}
    required = [spec.header(field) for field in spec.required]
    columns = Columns(table, wanted, required, ctx.log, passthrough=spec.passthrough)
    return Sheet(spec, table, columns, ctx) if columns.ok else None


class Row:
    """One data row: raw and cleaned values by field, and problems that name its line."""

    __slots__ = ("sheet", "cells", "line")

    def __init__(self, sheet: Sheet, cells: list[str], line: int) -> None:
        self.sheet = sheet
        self.cells = cells
        self.line = line

    @property
    def file(self) -> str:
        """Return the file the row is in."""
        return self.sheet.file

    def raw(self, field: str) -> str:
        """Return a field's value stripped but otherwise as written ('' without a column)."""
        i = self.sheet.index.get(field)
        # Table.rows() pads every row to the header's width, so i is in range.
        return "" if i is None else self.cells[i].strip()

    def column(self, field: str) -> str:
        """Return the header of a field as the file spells it."""
        return self.sheet.names[field]

    def __getitem__(self, field: str) -> Any:
        """Return a field's value cleaned by its declared normaliser."""
        col = self.sheet.specs[field]
        value = self.raw(field)
        clean = col.clean
        if clean == "raw":
            return value
        ctx = self.sheet.ctx
        if clean == "id":
            return ctx.ident(value)
        if clean == "ids":
            return split_list(value)
        where = (self.sheet.file, self.line, self.sheet.names[field])
        if clean == "text":
            return ctx.text(value, *where, limit=col.limit)
        if clean == "name":
            return ctx.name(value, *where, limit=col.limit)
        if clean == "email":
            return ctx.email(value, *where)
        if clean == "phone":
            return ctx.phone([value], *where)
        if clean == "grade":
            return ctx.grade(value, *where)
        if clean == "first_grade":
            # A OneRoster grades list ("09,10"): a person has one grade, the first.
            return ctx.grade(next(iter(split_list(value)), ""), *where)
        if clean == "grades":
            return ctx.ids(tuple(g for raw in split_list(value) if (g := ctx.grade(raw, *where))))
        if clean == "number":
            return ctx.student_number(value, *where)
        return ctx.flag(value, *where, col.default)

    def id(self, field: str, *, skipped: bool = True) -> str | None:
        """Return a required id; None, with an error naming the column, when it is empty."""
        value = self.sheet.ctx.ident(self.raw(field))
        if value:
            return value
        name = self.sheet.names[field]
        tail = "; the row was skipped." if skipped else "."
        self.error(field, f"{name} is empty{tail}")
        return None

    def error(self, field: str | None, message: str, kind: str | None = None) -> None:
        """Log an error on this row, in the column of field (None: the whole row)."""
        column = self.sheet.names[field] if field else None
        self.sheet.ctx.log.error(self.sheet.file, self.line, column, message, kind=kind)

    def warning(self, field: str | None, message: str, kind: str | None = None) -> None:
        """Log a warning on this row, in the column of field (None: the whole row)."""
        column = self.sheet.names[field] if field else None
        self.sheet.ctx.log.warning(self.sheet.file, self.line, column, message, kind=kind)


def person(
    row: Row,
    sid: str,
    role: Role | None,
    *,
    schools: tuple[str, ...] = (),
    status: Status | None = None,
    grade: str | None = None,
    enabled: bool = True,
    named: bool = True,
) -> PersonRecord | None:
    """Build a person from the standard fields; None (error logged) when a name is missing.

    The fields are given, family, middle (each may have a preferred_ one, used when
    filled), username, email, phone, sms, grade, number and password; a file may
    lack any but the names. grade overrides the grade column (SDS keeps grades in
    roles.csv); only students keep a grade and a student number. named False lets
    both names be empty (a row that only removes someone).
    """
    ctx, sheet = row.sheet.ctx, row.sheet
    file, line = sheet.file, row.line
    given, given_field = _preferred(row, "given")
    family, family_field = _preferred(row, "family")
    if named:
        names = ctx.names(
            given, family, file, line, (sheet.names[given_field], sheet.names[family_field])
        )
        if names is None:
            return None
        given, family = names
    else:
        given = ctx.name(given, file, line, sheet.names[given_field])
        family = ctx.name(family, file, line, sheet.names[family_field])
    is_student = role == "student"
    specs = sheet.specs
    username = ctx.ident(row.raw("username")) if "username" in specs else ""
    email = row["email"] if "email" in specs else None
    phone = _phone(row) if "phone" in specs else None
    if is_student and grade is None and "grade" in specs:
        grade = row["grade"]
    number = row["number"] if is_student and "number" in specs else None
    middle = ""
    if "middle" in specs:
        middle, middle_field = _preferred(row, "middle")
        if middle:
            middle = ctx.name(middle, file, line, sheet.names[middle_field])
    return PersonRecord(
        sid,
        role,
        given,
        family,
        file,
        line,
        username or None,
        email or None,
        phone,
        grade if is_student else None,
        number,
        ctx.ids(schools),
        status,
        enabled,
        row.raw("password") or None,
        middle or None,
    )


def _preferred(row: Row, field: str) -> tuple[str, str]:
    """Return a name field's value and the field it came from: preferred_ when filled."""
    preferred = "preferred_" + field
    if preferred in row.sheet.index:
        value = row.raw(preferred)
        if value:
            return value, preferred
    return row.raw(field), field


def _phone(row: Row) -> str | None:
    """Return the row's phone: its sms column first, then its phone column."""
    values = [row.raw("sms"), row.raw("phone")] if "sms" in row.sheet.specs else [row.raw("phone")]
    if not (values[0] or values[-1]):
        return None
    return row.sheet.ctx.phone(values, row.sheet.file, row.line, row.sheet.names["phone"])
