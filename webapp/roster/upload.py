"""Unpack an uploaded .zip or .csv into named file bytes, safely."""

from __future__ import annotations

import io
import re
import zipfile

from webapp.roster.decode import EMPTY, is_empty, not_text, office_document
from webapp.roster.normalise import clean_text
from webapp.roster.records import Problem

MAX_MEMBERS = 1000
MAX_CSV_FILES = 50
MAX_MEMBER_BYTES = 128 * 1024 * 1024
MAX_TOTAL_BYTES = 256 * 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def display_name(name: str) -> str:
    """Return a file name fit for messages: no path, no control characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return clean_text(base, 120)[0] or "upload"


def _unsafe(name: str) -> bool:
    """Tell whether a zip member name tries to leave its folder."""
    path = name.replace("\\", "/")
    return path.startswith("/") or bool(_DRIVE.match(path)) or ".." in path.split("/")


def unpack_upload(name: str, data: bytes) -> tuple[dict[str, bytes], list[Problem]]:
    """Return the CSV files in an upload and problems; never touches the filesystem.

    The content decides what the upload is (a zip named .csv is still a zip, an image
    named .csv is refused); names are only ever dictionary keys. A file that cannot be a
    roster comes back as no files and an error, before anything reads it.
    """
    shown = display_name(name)
    if data.startswith(_ZIP_MAGIC):
        return _unpack_zip(shown, data)
    if shown.casefold().endswith(".zip") and not is_empty(data):
        message = "This is not a zip archive. Upload the .zip the SIS exported, or a .csv."
        return {}, [Problem("error", shown, None, None, message)]
    reason = not_text(data)
    if reason is not None:
        return {}, [Problem("error", shown, None, None, reason)]
    return {shown: data}, []


def _unpack_zip(shown: str, data: bytes) -> tuple[dict[str, bytes], list[Problem]]:
    """Unpack a zip's CSV members within the size limits."""
    problems: list[Problem] = []

    def error(message: str, file: str = shown) -> tuple[dict[str, bytes], list[Problem]]:
        problems.append(Problem("error", file, None, None, message))
        return {}, problems

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        return error(f"The zip archive is damaged ({exc}). Export it again.")
    if len(members) > MAX_MEMBERS:
        return error(f"The zip holds {len(members)} entries; at most {MAX_MEMBERS} are accepted.")
    files: dict[str, bytes] = {}
    total = 0
    skipped: list[str] = []
    for info in members:
        path = info.filename
        base = display_name(path)
        if info.is_dir() or path.startswith("__MACOSX/") or "/__MACOSX/" in path:
            continue
        if _unsafe(path):
            problems.append(
                Problem(
                    "warning",
                    shown,
                    None,
                    None,
                    f"Zip entry '{clean_text(path, 120)[0]}' has an unsafe path (it leaves "
                    "the archive); it was skipped.",
                )
            )
            continue
        if base.startswith(".") or not base.casefold().endswith(".csv"):
            skipped.append(base)
            continue
        if info.flag_bits & 0x1:
            return error(f"Zip entry '{base}' is password-protected; export it without a password.")
        if base.casefold() in {n.casefold() for n in files}:
            return error(
                f"The zip holds two files named '{base}' (in different folders); keep one."
            )
        if len(files) >= MAX_CSV_FILES:
            return error(f"The zip holds more than {MAX_CSV_FILES} CSV files.")
        if info.file_size > MAX_MEMBER_BYTES:
            return error(f"'{base}' is larger than {MAX_MEMBER_BYTES // 2**20} MiB unpacked.")
        try:
            with archive.open(info) as member:
                # Read one byte past the limit: the size in the header may lie (zip bombs).
                content = member.read(MAX_MEMBER_BYTES + 1)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError) as exc:
            return error(f"Zip entry '{base}' could not be unpacked ({exc}).")
        if len(content) > MAX_MEMBER_BYTES:
            return error(f"'{base}' is larger than {MAX_MEMBER_BYTES // 2**20} MiB unpacked.")
        total += len(content)
        if total > MAX_TOTAL_BYTES:
            return error(f"The zip unpacks to more than {MAX_TOTAL_BYTES // 2**20} MiB.")
        files[base] = content
    if not files:
        return error(_nothing_usable(members, problems, skipped))
    bad = _not_text_members(files)
    if bad:
        problems.extend(bad)
        return {}, problems
    if skipped:
        problems.append(
            Problem(
                "warning",
                shown,
                None,
                None,
                f"Skipped files that are not CSV: {', '.join(skipped[:20])}.",
            )
        )
    return files, problems


def _nothing_usable(
    members: list[zipfile.ZipInfo], problems: list[Problem], skipped: list[str]
) -> str:
    """Say why a zip gave no CSV file to read."""
    office = office_document({m.filename for m in members})
    if office:
        return office
    if not members:
        return "The ZIP file is empty."
    unsafe = [p.message for p in problems if "unsafe path" in p.message]
    if unsafe:
        return f"The ZIP file holds no CSV files that can be read. {' '.join(unsafe)}"
    listed = f" (it holds {', '.join(skipped[:10])})" if skipped else ""
    return f"The ZIP file holds no CSV files{listed}."


def _not_text_members(files: dict[str, bytes]) -> list[Problem]:
    """Return an error for each member that cannot be a CSV file (an empty one may be)."""
    return [
        Problem("error", member, None, None, reason)
        for member, content in files.items()
        if (reason := not_text(content)) is not None and reason != EMPTY
    ]
