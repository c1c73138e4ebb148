"""Turn uploaded bytes into CSV rows with real line numbers and row-level problems."""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Collection, Iterator

from webapp.roster.problems import ProblemLog

# A roster value longer than this is not a name or an id; refuse the row
# instead of letting one runaway quote swallow the rest of the file.
MAX_FIELD = 64 * 1024
csv.field_size_limit(MAX_FIELD)

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a zip archive"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"PK\x07\x08", "a zip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel .xls (or other Office) file"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"{\\rtf", "an RTF document"),
)
_SAVE_AS = "Save it as 'CSV UTF-8 (comma delimited)' and upload that file instead."
EMPTY = "The file is empty: it has no header row and no data."
XLSX = "This is an Excel workbook (.xlsx), not a CSV file: save it as CSV (UTF-8) and upload that."
# Bytes that never occur in a text export; tab, line breaks, form feed, vertical tab (some
# tools' in-cell line break) and Ctrl-Z (an old end-of-file mark) do.
_BINARY_BYTES = re.compile(rb"[\x00-\x08\x0e-\x19\x1b-\x1f\x7f]")
_HEAD = 65536
_BLANK = re.compile(rb"[ \t\r\n\xef\xbb\xbf]*\Z")
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")
_SEP_LINE = re.compile(r"sep=([,;\t|])[ \t]*(\r\n|\r|\n|$)", re.IGNORECASE)
DELIMITERS = (",", ";", "\t")
_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+\Z")


def iter_lines(text: str) -> Iterator[str]:
    """Yield lines with their endings (CRLF, LF or bare CR), lazily.

    io.StringIO would do the same but keeps a 4-bytes-per-character copy of
    the whole file; a 10 MB roster would cost 40 MB more at its peak.
    """
    # map() over the matches runs in C: no generator frame per line.
    return map(re.Match.group, _LINE.finditer(text))


def _line_at(data: bytes, pos: int) -> int:
    """Return the 1-based physical line holding byte pos, for any line ending."""
    prefix = data[:pos]
    crlf = prefix.count(b"\r\n")
    return prefix.count(b"\n") + prefix.count(b"\r") - crlf + 1


def is_empty(data: bytes) -> bool:
    """Tell whether a file holds nothing but blanks and a byte order mark."""
    # A match, not data.strip(): that would copy a 200 MB upload to look at its first byte.
    return _BLANK.match(data) is not None


def _utf16_without_bom(head: bytes) -> str | None:
    """Return utf-16-le or -be for BOM-less UTF-16 text (a NUL beside each ASCII byte)."""
    pairs = len(head) // 2
    if pairs < 2:
        return None
    even, odd = head[0 : 2 * pairs : 2].count(0), head[1 : 2 * pairs : 2].count(0)
    if odd > 0.4 * pairs and even < 0.05 * pairs:
        return "utf-16-le"
    if even > 0.4 * pairs and odd < 0.05 * pairs:
        return "utf-16-be"
    return None


def _utf8_error_at(head: bytes, whole: int) -> int | None:
    """Return where head stops being UTF-8 (None if it is), forgiving a cut last character."""
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if (
            whole > len(head)
            and exc.start >= len(head) - 3
            and exc.reason == "unexpected end of data"
        ):
            return None
        return exc.start
    return None


def binary_at(data: bytes) -> int | None:
    """Return the 0-based offset of the first binary byte if data is not text, else None.

    A few stray control bytes (a NUL in one row) are a row problem, not a reason to refuse
    the file; charset-normalizer judges anything that is not plain UTF-8, so Latin-1,
    Windows-1252 and UTF-16 exports are kept.
    """
    head = data[:_HEAD]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or _utf16_without_bom(head):
        return None
    controls = _BINARY_BYTES.search(head)
    if controls and len(_BINARY_BYTES.findall(head)) > 0.05 * len(head):
        return controls.start()
    not_utf8 = _utf8_error_at(head, len(data))
    if controls is None and not_utf8 is None:
        return None
    from charset_normalizer import from_bytes

    if from_bytes(head).best() is not None:
        return None
    return controls.start() if controls else not_utf8


def office_document(names: Collection[str]) -> str | None:
    """Say what Office document a zip's member names make (an .xlsx is a zip), or None."""
    if "[Content_Types].xml" not in names:
        return None
    if any(n.startswith("xl/") for n in names):
        return XLSX
    return (
        "This is an Office document (Word or PowerPoint), not a CSV or ZIP roster export. "
        f"{_SAVE_AS}"
    )


def _zip_names(data: bytes) -> list[str]:
    try:
        return zipfile.ZipFile(io.BytesIO(data)).namelist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return []


def not_text(data: bytes) -> str | None:
    """Say why data cannot be a CSV file (empty, an image, a workbook, binary), or None."""
    if is_empty(data):
        return EMPTY
    if data.startswith(b"PK\x03\x04"):
        return office_document(_zip_names(data)) or (
            "This is a zip archive, not a CSV file: upload the zip itself (named .zip) "
            "or the CSV files inside it."
        )
    for magic, what in _MAGIC:
        if data.startswith(magic):
            hint = f" {_SAVE_AS}" if "Excel" in what else ""
            return f"This looks like {what}, not a CSV or ZIP roster export.{hint}"
    where = binary_at(data)
    if where is not None:
        # Counted from 1, as lines and columns are in every other message.
        return (
            f"The file does not look like text (binary data at byte {where + 1}): it is a "
            "binary file, not a CSV or ZIP roster export."
        )
    stripped = data[:8192].lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] == b"<":
        return f"This looks like an HTML or XML document, not a CSV file. {_SAVE_AS}"
    return None


def decode_bytes(data: bytes, file: str, log: ProblemLog) -> tuple[str, str] | None:
    """Decode an upload to text; return (text, encoding) or None after a file error."""
    reason = not_text(data)
    if reason is not None:
        log.error(file, None, None, reason)
        return None
    bomless = _utf16_without_bom(data[:_HEAD])
    if bomless:
        try:
            return data.decode(bomless), bomless
        except UnicodeDecodeError:
            log.error(file, None, None, f"The file looks like UTF-16 but is not. {_SAVE_AS}")
            return None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            log.error(file, None, None, f"The file says it is UTF-16 but is not. {_SAVE_AS}")
            return None
    body = data[3:] if data.startswith(codecs.BOM_UTF8) else data
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        first_bad = _line_at(body, exc.start)
    if _UTF8_MULTIBYTE.search(body):
        return _decode_mixed(body, file, log)
    try:
        text = body.decode("cp1252")
        encoding = "windows-1252"
    except UnicodeDecodeError:
        text, encoding = _decode_guess(body)
    log.warning(
        file,
        first_bad,
        None,
        f"The file is not UTF-8 (first non-UTF-8 byte on this line), so it was read as "
        f"{encoding}. Check accented names in the preview; if they look wrong, "
        f"{_SAVE_AS[0].lower()}{_SAVE_AS[1:]}",
    )
    return text, encoding


def _decode_guess(body: bytes) -> tuple[str, str]:
    """Decode bytes that are neither UTF-8 nor Windows-1252."""
    from charset_normalizer import from_bytes

    best = from_bytes(body).best()
    if best is not None and best.encoding:
        try:
            return body.decode(best.encoding), best.encoding
        except (UnicodeDecodeError, LookupError):
            pass
    return body.decode("latin-1"), "latin-1"


def _decode_mixed(body: bytes, file: str, log: ProblemLog) -> tuple[str, str]:
    """Decode a file that mixes UTF-8 lines with Windows-1252 lines, line by line."""
    parts: list[str] = []
    # bytes.splitlines, unlike str.splitlines, breaks only on \r, \n and \r\n.
    for line, chunk in enumerate(body.splitlines(keepends=True), start=1):
        try:
            parts.append(chunk.decode("utf-8"))
        except UnicodeDecodeError:
            parts.append(chunk.decode("cp1252", errors="replace"))
            log.warning(
                file,
                line,
                None,
                "This line is not UTF-8 while the rest of the file is; it was read as "
                "Windows-1252. Check the names on it, or save the whole file as CSV UTF-8.",
                kind="mixed-encoding",
            )
    return "".join(parts), "utf-8+windows-1252"


def sniff_delimiter(text: str) -> str:
    """Pick , ; or tab by counting them in the first line, outside quotes."""
    counts = dict.fromkeys(DELIMITERS, 0)
    in_quotes = False
    for ch in text[:65536]:
        if ch == '"':
            in_quotes = not in_quotes
        elif in_quotes:
            continue
        elif ch in "\r\n":
            if any(counts.values()):
                break
        elif ch in counts:
            counts[ch] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


class Table:
    """One decoded CSV file: its header and a stream of (line, cells) rows."""

    __slots__ = (
        "file",
        "header",
        "header_line",
        "encoding",
        "delimiter",
        "row_count",
        "_reader",
        "_log",
        "_last_line",
        "_offset",
        "_has_nul",
        "_first",
        "has_header",
    )

    def __init__(
        self, file: str, text: str, encoding: str, log: ProblemLog, *, has_header: bool = True
    ) -> None:
        """Open text as CSV; without a header row, columns are named by position."""
        self.file = file
        self.has_header = has_header
        self.encoding = encoding
        self._log = log
        self._last_line = 0
        self._offset = 0
        self.row_count = 0
        self._has_nul = "\x00" in text
        sep = _SEP_LINE.match(text)
        if sep:
            # Excel writes a "sep=;" line first when asked to; honour and skip it.
            self.delimiter = sep.group(1)
            self._last_line = self._offset = 1
            text = text[sep.end() :]
        else:
            self.delimiter = sniff_delimiter(text)
        self._reader = csv.reader(
            iter_lines(text), delimiter=self.delimiter, quotechar='"', strict=False
        )
        self.header: list[str] = []
        self.header_line = 0
        # Without a header row, the first record is data: rows() yields it first.
        self._first: tuple[int, list[str]] | None = None
        for line, cells, _ in self._records():
            if cells is None:
                continue
            if not has_header:
                cells[0] = cells[0].lstrip("\ufeff")
                self.header = position_names(len(cells))
                self._first = (line, cells)
                break
            header = [c.strip().lstrip("\ufeff") for c in cells]
            # Trailing empty header cells come from spreadsheets; they name nothing.
            while header and not header[-1]:
                header.pop()
            self.header = header
            self.header_line = line
            break

    def _csv_error(self, exc: csv.Error, start: int) -> None:
        """Report a record the csv module could not parse, and step past it."""
        self._last_line = max(self._reader.line_num + self._offset, start)
        message = str(exc)
        if "field larger than field limit" in message:
            message = (
                f"A value on this row is longer than {MAX_FIELD // 1024} KiB; "
                'the row was skipped. Often a quote (") is missing its partner.'
            )
        else:
            message = f"This row could not be read as CSV ({message}); it was skipped."
        self._log.error(self.file, start, None, message, kind="csv-error")

    def _records(self) -> Iterator[tuple[int, list[str] | None, int]]:
        """Yield (first line, cells or None after a parse error, last line) per record."""
        reader = self._reader
        while True:
            start = self._last_line + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                self._csv_error(exc, start)
                yield start, None, self._last_line
                continue
            self._last_line = reader.line_num + self._offset
            if not cells or not "".join(cells).strip():
                continue
            yield start, cells, self._last_line

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """Yield (line, cells) for each readable data row; problems go to the log."""
        width = len(self.header)
        reader = self._reader
        offset = self._offset
        has_nul = self._has_nul
        if self._first is not None:
            line, cells = self._first
            self._first = None
            checked = self._check(line, cells, line, width)
            if checked is not None:
                self.row_count += 1
                yield line, checked
        while True:
            # The common case (one well-formed record) is handled inline: this loop
            # runs once per row of a 100,000-row file, and a nested generator per
            # record cost a third of the reading time.
            start = self._last_line + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                self._csv_error(exc, start)
                continue
            last = self._last_line = reader.line_num + offset
            if width and len(cells) == width and not has_nul:
                if not cells[0].strip() and not "".join(cells).strip():
                    continue
                self.row_count += 1
                yield start, cells
                continue
            if not cells or not "".join(cells).strip():
                continue
            checked = self._check(start, cells, last, width)
            if checked is not None:
                self.row_count += 1
                yield start, checked

    def _widest(self) -> str:
        return "the header has" if self.has_header else "the first row has"

    def _check(self, line: int, cells: list[str], last: int, width: int) -> list[str] | None:
        """Fit a row to the header's width; None (after an error) if it must be skipped."""
        if self._has_nul and any("\x00" in c for c in cells):
            self._log.error(
                self.file,
                line,
                None,
                "This row contains a NUL byte (a binary zero), so it was skipped. "
                "Re-export the file from the source system.",
                kind="nul",
            )
            return None
        spans = last > line
        if len(cells) > width:
            extra = cells[width:]
            if any(c.strip() for c in extra):
                self._log.error(
                    self.file,
                    line,
                    None,
                    f"This row has {len(cells)} values but {self._widest()} {width} "
                    "columns, so it was skipped. A value with a comma inside probably "
                    "needs quotes around it." + _quote_hint(spans, last),
                    kind="too-many",
                )
                return None
            del cells[width:]
        elif len(cells) < width:
            if spans:
                self._log.error(
                    self.file,
                    line,
                    None,
                    f"This row has {len(cells)} values but {self._widest()} {width} "
                    "columns, so it was skipped." + _quote_hint(spans, last),
                    kind="too-few",
                )
                return None
            self._log.warning(
                self.file,
                line,
                None,
                f"This row has {len(cells)} values but {self._widest()} {width} columns; "
                "the missing values at the end were read as empty.",
                kind="too-few",
            )
            cells.extend([""] * (width - len(cells)))
        return cells


def position_names(width: int) -> list[str]:
    """Name the columns of a file without a header row: Column 1, Column 2, ..."""
    return [f"Column {i}" for i in range(1, width + 1)]


def _quote_hint(spans: bool, last: int) -> str:
    if not spans:
        return ""
    return (
        f' A quoted value runs from this line to line {last}; a quote (") is probably '
        "missing its partner on this line."
    )


def read_table(file: str, data: bytes, log: ProblemLog, *, has_header: bool = True) -> Table | None:
    """Decode and open one CSV file; None (with a file error) if it is unusable."""
    decoded = decode_bytes(data, file, log)
    if decoded is None:
        return None
    text, encoding = decoded
    table = Table(file, text, encoding, log, has_header=has_header)
    if not table.header:
        what = "header row" if has_header else "row"
        log.error(file, None, None, f"The file has no {what} that could be read.")
        return None
    return table


def peek_table(
    file: str, data: bytes, *, has_header: bool = True, samples: int = 3
) -> tuple[list[str], list[list[str]]]:
    """Return a file's column names and its first few rows, decoded as an import reads it.

    ([], []) when the file cannot be read; the import's own reading reports why.
    """
    table = read_table(file, data, ProblemLog(), has_header=has_header)
    if table is None:
        return [], []
    rows: list[list[str]] = []
    if samples <= 0:
        return table.header, rows
    for _, cells in table.rows():
        rows.append([c.strip() for c in cells])
        if len(rows) >= samples:
            break
    return table.header, rows
