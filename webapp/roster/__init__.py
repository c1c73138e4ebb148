"""Roster readers: turn what schools export into one normalised stream plus problems.

read_upload() takes what the admin uploaded; read_roster() takes named file
bytes. Both return a Roster and never raise for bad input: everything wrong
with the files is a Problem with a file and, where it applies, a line.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date

from webapp.roster.bulk import paused_gc
from webapp.roster.context import FileSet, ReadContext
from webapp.roster.dedupe import finish
from webapp.roster.detect import detect_format, read_headers
from webapp.roster.records import (
    FORMATS,
    ClassRecord,
    DateOrder,
    DateQuestion,
    EnrollmentRecord,
    GuardianRecord,
    PersonRecord,
    Problem,
    Roster,
    SchoolRecord,
)
from webapp.roster.upload import unpack_upload

__all__ = [
    "FORMATS",
    "DATE_ORDERS",
    "ClassRecord",
    "DateQuestion",
    "EnrollmentRecord",
    "GuardianRecord",
    "PersonRecord",
    "Problem",
    "Roster",
    "SchoolRecord",
    "detect_format",
    "guess_mapping",
    "read_headers",
    "read_roster",
    "read_upload",
]

log = logging.getLogger(__name__)

DATE_ORDERS: tuple[DateOrder, ...] = ("DMY", "MDY")


def guess_mapping(headers: list[str]) -> dict[str, str]:
    """Guess {keyslip_field: source header} for a spreadsheet's header row."""
    from webapp.roster.sheet_columns import guess_mapping as guess

    return guess(headers)


def _dispatch(
    fmt: str,
    files: FileSet,
    ctx: ReadContext,
    mapping: Mapping[str, str] | None,
) -> Roster:
    if fmt.startswith("oneroster"):
        from webapp.roster.oneroster import read_oneroster

        return read_oneroster(files, ctx, fmt.rsplit("-", 1)[1])
    if fmt == "clever":
        from webapp.roster.clever import read_clever

        return read_clever(files, ctx)
    if fmt == "sds-2.1":
        from webapp.roster.sds import read_sds

        return read_sds(files, ctx)
    if fmt == "sds-uk":
        from webapp.roster.sds import read_sds_uk

        return read_sds_uk(files, ctx)
    from webapp.roster.spreadsheet import read_spreadsheet

    return read_spreadsheet(files, ctx, mapping)


def read_roster(
    files: Mapping[str, bytes],
    *,
    format: str = "auto",  # noqa: A002 - the caller-facing name the UI uses
    mapping: Mapping[str, str] | None = None,
    default_region: str = "US",
    complete: bool | None = None,
    date_order: str | None = None,
    today: date | None = None,
    has_header: bool = True,
    other_contacts: bool = False,
) -> Roster:
    """Read named CSV files (name -> bytes) in any supported format into a Roster.

    format is "auto" or a key of FORMATS; mapping ({keyslip_field: header}) is
    for the "csv" format; complete overrides whether absentees may be deactivated;
    date_order ("DMY" or "MDY") answers a date column that could be read either
    way; today (default: the server's date) is what leaving dates are compared with;
    has_header False reads a spreadsheet's first row as data, its columns named by position.
    other_contacts (the school setting) makes siblings, family friends and other
    non-guardian contacts parents too.
    """
    order = date_order.upper() if date_order else None
    ctx = ReadContext(
        default_region,
        date_order=order if order in DATE_ORDERS else None,  # type: ignore[arg-type]
        today=today,
        other_contacts=other_contacts,
    )
    fileset = FileSet(files)
    if order is not None and order not in DATE_ORDERS:
        roster = Roster(format=format)
        ctx.log.error("upload", None, None, f"Unknown date order '{date_order}'; use DMY or MDY.")
        return finish(roster, ctx.log, ctx.encodings)
    if format != "auto" and format not in FORMATS:
        roster = Roster(format=format)
        ctx.log.error(
            "upload", None, None, f"Unknown format '{format}'; use one of {', '.join(FORMATS)}."
        )
        return finish(roster, ctx.log, ctx.encodings)
    if not len(fileset):
        roster = Roster(format="csv" if format == "auto" else format)
        ctx.log.error("upload", None, None, "No files were uploaded.")
        return finish(roster, ctx.log, ctx.encodings)
    fmt = detect_format(files) if format == "auto" else format
    if not has_header:
        if fmt != "csv":
            roster = Roster(format=fmt)
            ctx.log.error(
                "upload",
                None,
                None,
                "Only spreadsheets may come without a header row; this upload is "
                f"{fmt}, whose files must start with their header row.",
            )
            return finish(roster, ctx.log, ctx.encodings)
        ctx.has_header = False
    with paused_gc():
        return _read(fmt, fileset, ctx, mapping, complete)


def _read(
    fmt: str,
    fileset: FileSet,
    ctx: ReadContext,
    mapping: Mapping[str, str] | None,
    complete: bool | None,
) -> Roster:
    try:
        roster = _dispatch(fmt, fileset, ctx, mapping)
    except Exception as exc:
        # A reader bug must show up as a problem on the preview, not a 500 page.
        log.exception("roster reader failed on a %s upload", fmt)
        roster = Roster(format=fmt)
        ctx.log.error(
            "upload",
            None,
            None,
            f"Keyslip could not read this upload (internal error: {type(exc).__name__}). "
            "Nothing was imported; please report this with the file.",
        )
    ctx.report_contacts()
    if complete is not None:
        roster.complete = complete
    if roster.format == "csv":
        # A complete spreadsheet speaks for classes and class places only when it has a
        # file of them (the reader names the kinds it read); otherwise they are left alone.
        mode = "bulk" if roster.complete else "delta"
        read = roster.modes
        roster.modes = {
            "users": mode,
            "classes": mode if "classes" in read else "absent",
            "enrollments": mode if "enrollments" in read else "absent",
        }
    return finish(roster, ctx.log, ctx.encodings)


def read_upload(
    name: str,
    data: bytes,
    *,
    format: str = "auto",  # noqa: A002
    mapping: Mapping[str, str] | None = None,
    default_region: str = "US",
    complete: bool | None = None,
    date_order: str | None = None,
    today: date | None = None,
    has_header: bool = True,
    other_contacts: bool = False,
) -> Roster:
    """Read one uploaded .zip bundle or .csv file into a Roster."""
    files, problems = unpack_upload(name, data)
    if not files:
        roster = Roster(format="csv" if format == "auto" else format, problems=list(problems))
        return roster
    roster = read_roster(
        files,
        format=format,
        mapping=mapping,
        default_region=default_region,
        complete=complete,
        date_order=date_order,
        today=today,
        has_header=has_header,
        other_contacts=other_contacts,
    )
    roster.problems[:0] = problems
    return roster
