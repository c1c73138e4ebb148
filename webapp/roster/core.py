"""The declarative reader core: formats declare files and columns, one builder reads rows.

A format describes each file it reads as a FileSpec: which columns it has (the
Keyslip field each fills, the header and its aliases, the normaliser that cleans
it), which are required and what to say when the file is missing. open_sheet()
matches a file's header row to that description; Sheet.rows() walks the rows
(Sheet.tuples() too, for a hot loop that reads a few fields); a
Row hands out values cleaned by the declared normaliser through ReadContext, so
each rule (names, emails, phones, grades, ids, flags) is written once and every
problem carries the file, line and column. person() builds a PersonRecord from
the standard person fields for every format.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from operator import itemgetter
from sys import intern
from typing import Any, Literal

from webapp.roster.columns import Columns
from webapp.roster.context import FileSet, ReadContext, split_list
from webapp.roster.decode import Table
from webapp.roster.records import PersonRecord, Role, Status

# How a column's value is cleaned (see Row.__getitem__): "raw" only strips it; "skip"
# marks a column the format has but Keyslip does not read (so it is not reported unknown).
Clean = Literal[
    "skip",
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
    """One opened file matched to its FileSpec: column positions, names and cleaners by field."""

    __slots__ = ("spec", "table", "file", "ctx", "index", "names", "cleaners", "preferred")

    def __init__(self, spec: FileSpec, table: Table, columns: Columns, ctx: ReadContext) -> None:
        self.spec = spec
        self.table = table
        self.file = table.file
        self.ctx = ctx
        self.index = {
            col.field: columns.index[col.header]
            for col in spec.columns
            if col.header in columns.index
        }
        # A column the file lacks is named as the format spells it, for messages.
        self.names = {col.field: columns.name(col.header) for col in spec.columns}
        self.cleaners = {col.field: _cleaner(col, self) for col in spec.columns}
        # Whether the file has preferred names (preferred_given ...) that person() uses.
        self.preferred = any(f.startswith("preferred_") for f in self.index)

    def column(self, field: str) -> str:
        """Return the header of a field as the file spells it (for messages)."""
        return self.names[field]

    def rows(self) -> Iterator[Row]:
        """Yield each data row as a Row holding the stripped values of its fields.

        One Row is refilled for every row (50,000 users make this loop hot): use it
        before asking for the next one, and keep values, not the Row.
        """
        read = {col.field for col in self.spec.columns if col.clean != "skip"}
        fields = tuple(f for f in self.index if f in read)
        # Fields the file has no column for read as empty.
        blank = dict.fromkeys((f for f in self.names if f in read and f not in fields), "")
        row = Row(self)
        positions = [self.index[f] for f in fields]
        if len(positions) == 1:
            only = positions[0]
            getter = lambda cells: (cells[only],)  # noqa: E731 - itemgetter of one is no tuple
        elif positions:
            getter = itemgetter(*positions)
        else:
            getter = lambda cells: ()  # noqa: E731
        strip = str.strip
        for line, cells in self.table.rows():
            row.line, row.cells = line, cells
            # A few calls in C per row, not a Python call per field.
            if blank:
                row.values = values = blank.copy()
                values.update(zip(fields, map(strip, getter(cells)), strict=False))
            else:
                row.values = dict(zip(fields, map(strip, getter(cells)), strict=False))
            yield row

    def tuples(self, *fields: str) -> Iterator[tuple[Row, tuple[str, ...]]]:
        """Yield (row, the stripped values of fields) for a hot loop that reads a few fields.

        A tuple per row costs less than rows()'s dict; the Row's values are filled only
        if something asks for them (a warning's check). A field the file lacks reads ''.
        """
        row = Row(self)
        width = len(self.table.header)
        # A column the file lacks reads the empty cell added past the row's end.
        positions = [self.index.get(f, width) for f in fields]
        getter = itemgetter(*positions)
        pad = width in positions
        strip = str.strip
        row.values = lazy = _Lazy(row)
        for line, cells in self.table.rows():
            if pad:
                cells.append("")
            row.line, row.cells = line, cells
            if lazy:  # filled for the last row
                lazy.clear()
            yield row, tuple(map(strip, getter(cells)))

    def fill(self, cells: list[str]) -> dict[str, str]:
        """Return the stripped values of a row's fields, '' for columns the file lacks."""
        values = dict.fromkeys(self.names, "")
        values.update((f, cells[i].strip()) for f, i in self.index.items())
        return values


class _Lazy(dict):  # type: ignore[type-arg]
    """A row's values, read from its cells the first time one is asked for."""

    __slots__ = ("row",)

    def __init__(self, row: Row) -> None:
        self.row = row

    def __missing__(self, field: str) -> str:
        if self:
            raise KeyError(field)
        self.update(self.row.sheet.fill(self.row.cells))
        return self[field]

    def get(self, field: str, default: Any = None) -> Any:  # type: ignore[override]
        """Return a value as dict.get() would, reading the row first."""
        try:
            return self[field]
        except KeyError:
            return default


_ID = object()  # the cleaner of "id" columns, which Row.__getitem__ reads inline


def _cleaner(col: Col, sheet: Sheet) -> Any:
    """Return what cleans a column's value: (check, column, extra arguments).

    The check is a ReadContext method called as check(value, file, line, column,
    *extra); None stands for "raw" (the value as it is) and _ID for "id".
    """
    ctx, column, clean = sheet.ctx, sheet.names[col.field], col.clean
    if clean in ("raw", "skip"):
        return None
    if clean == "id":
        return _ID
    if clean in ("text", "name"):
        return getattr(ctx, clean), column, (col.limit,)
    if clean == "flag":
        return ctx.flag, column, (col.default,)
    checks = {
        "ids": _split,
        "email": ctx.email,
        "phone": ctx.one_phone,
        "grade": ctx.grade,
        "first_grade": ctx.first_grade,
        "grades": ctx.grades,
        "number": ctx.student_number,
    }
    return checks[clean], column, ()


def _split(value: str, file: str, line: int, column: str) -> list[str]:
    return split_list(value)


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
    """One data row: raw and cleaned values by field, and problems that name its line.

    values holds the stripped value of every field of the spec ('' for a column the
    file lacks); cells is the row as read.
    """

    __slots__ = ("sheet", "file", "cells", "values", "line")

    def __init__(self, sheet: Sheet) -> None:
        self.sheet = sheet
        self.file = sheet.file
        self.cells: list[str] = []
        self.values: dict[str, str] = {}
        self.line = 0

    def raw(self, field: str) -> str:
        """Return a field's value stripped but otherwise as written ('' without a column)."""
        return self.values.get(field, "")

    def column(self, field: str) -> str:
        """Return the header of a field as the file spells it."""
        return self.sheet.names[field]

    def __getitem__(self, field: str) -> Any:
        """Return a field's value cleaned by its declared normaliser."""
        clean = self.sheet.cleaners[field]
        value = self.values[field]
        if clean is None:
            return value
        if clean is _ID:  # the check ReadContext.ident() starts with, without a call
            return intern(value) if value.isascii() and value.isprintable() else self.ident(value)
        check, column, extra = clean
        return check(value, self.file, self.line, column, *extra)

    def ident(self, value: str) -> str:
        """Clean an id as ReadContext.ident() does."""
        return self.sheet.ctx.ident(value)

    def id(self, field: str, *, skipped: bool = True) -> str | None:
        """Return a required id; None, with an error naming the column, when it is empty."""
        value = self.values[field]
        value = intern(value) if value.isascii() and value.isprintable() else self.ident(value)
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
    sheet, values, line = row.sheet, row.values, row.line
    ctx, file, names = sheet.ctx, sheet.file, sheet.names
    given_field, family_field, middle_field = "given", "family", "middle"
    if sheet.preferred:
        # A preferred name, when given, is the one used (and named in messages).
        if values.get("preferred_given"):
            given_field = "preferred_given"
        if values.get("preferred_family"):
            family_field = "preferred_family"
        if values.get("preferred_middle"):
            middle_field = "preferred_middle"
    given, family = values[given_field], values[family_field]
    if named:
        both = ctx.names(given, family, file, line, (names[given_field], names[family_field]))
        if both is None:
            return None
        given, family = both
    else:
        given = ctx.name(given, file, line, names[given_field])
        family = ctx.name(family, file, line, names[family_field])
    is_student = role == "student"
    # values.get(): a field the format lacks is None, one the file lacks ''. Empty values
    # are skipped here, not in each check: most rows leave most fields empty.
    username = values.get("username")
    if username:
        username = ctx.ident(username)
    email = row["email"] if values.get("email") else None
    phone = _phone(row) if values.get("phone") or values.get("sms") else None
    if is_student and grade is None and values.get("grade"):
        grade = row["grade"]
    number = row["number"] if is_student and values.get("number") else None
    middle = values.get(middle_field, "")  # not every format has a middle name
    if middle:
        middle = ctx.name(middle, file, line, names[middle_field])
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
        values.get("password") or None,
        middle or None,
    )


def _phone(row: Row) -> str | None:
    """Return the row's phone: its sms column first, then its phone column."""
    sms, phone = row.values.get("sms", ""), row.values["phone"]
    if not (sms or phone):
        return None
    sheet = row.sheet
    return sheet.ctx.phone([sms, phone], sheet.file, row.line, sheet.names["phone"])
