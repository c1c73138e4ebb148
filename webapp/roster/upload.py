"""Unpack an uploaded .zip or .csv into named file bytes, safely."""

from __future__ import annotations

import io
import re
import zipfile

from webapp.roster.normalise import clean_text
from webapp.roster.records import Problem

MAX_MEMBERS = 1000
MAX_CSV_FILES = 50
MAX_MEMBER_BYTES = 128 * 1024 * 1024
MAX_TOTAL_BYTES = 256 * 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


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

    The uploaded name decides only whether a zip is expected; the content is
    checked either way, and names are only ever dictionary keys.
    """
    shown = display_name(name)
    if not shown.casefold().endswith(".zip"):
        return {shown: data}, []
    problems: list[Problem] = []

    def error(message: str, file: str = shown) -> tuple[dict[str, bytes], list[Problem]]:
        problems.append(Problem("error", file, None, None, message))
        return {}, problems

    if not data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return error("This is not a zip archive. Upload the .zip the SIS exported, or a .csv.")
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
                    f"Zip entry '{clean_text(path, 120)[0]}' has a path that leaves the archive; "
                    "it was skipped.",
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
        names = {m.filename for m in members}
        if "[Content_Types].xml" in names:
            return error(
                "This is an Office document (such as an Excel workbook) renamed .zip. "
                "Save each sheet as 'CSV UTF-8' and upload those."
            )
        return error("The zip holds no .csv files.")
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
