"""Sign-in slips: the paper saver (8, 10 or 12 slips a page, with cut lines) or one per page.

A slip carries a temporary password, which exists only while it is issued: slips are
rendered from IssuedPassword values in the same action that issues them (flow.py) and the
plain text lives nowhere else. Every slip tells its reader to keep it private.

Slips sit in inline-block boxes, two to a row, a fixed height each: WeasyPrint lays out
inline blocks about 8x faster than CSS grid (DESIGN.md). Each page is its own section, so
page counts follow the layout exactly.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from flask import current_app, render_template

from webapp.delivery.messages import clean_line
from webapp.printing import render
from webapp.printing.paper import SHEETS, PaperSize

PER_PAGE_CHOICES = (8, 10, 12)
COLUMNS = 2


class Layout(enum.StrEnum):
    SAVER = "saver"  # 8, 10 or 12 slips a page, cut apart
    SINGLE = "single"  # one letter a page


@dataclass(frozen=True)
class Slip:
    """What one slip shows."""

    school: str
    name: str
    username: str
    password: str
    expires_at: datetime  # on the school's clock (an aware time)
    badge: str | None = None  # the QR sign-in badge as an inline PNG (data: URI), if any


@dataclass(frozen=True)
class SlipOptions:
    layout: Layout = Layout.SAVER
    per_page: int = 10
    paper: PaperSize = PaperSize.A4

    def __post_init__(self) -> None:
        if self.layout is Layout.SAVER and self.per_page not in PER_PAGE_CHOICES:
            raise ValueError(f"per_page must be one of {PER_PAGE_CHOICES}")

    @property
    def slips_per_page(self) -> int:
        return self.per_page if self.layout is Layout.SAVER else 1


def make_slip(
    school: str,
    name: str,
    username: str,
    password: str,
    expires: datetime,
    badge: str | None = None,
) -> Slip:
    """Build a slip, keeping roster text to one clean line (no control or bidi characters)."""
    return Slip(clean_line(school, 120), clean_line(name, 120), username, password, expires, badge)


def page_count(slips: int, options: SlipOptions) -> int:
    return math.ceil(slips / options.slips_per_page)


def slip_chunks(slips: Sequence[Slip], options: SlipOptions) -> list[str]:
    """Return the slips as HTML documents of whole pages, PRINT_CHUNK_PAGES pages each."""
    per_page = options.slips_per_page
    per_chunk = per_page * current_app.config["PRINT_CHUNK_PAGES"]
    sheet = SHEETS[options.paper]
    rows = per_page // COLUMNS
    saver = options.layout is Layout.SAVER
    template = "print/pdf_slips_saver.html" if saver else "print/pdf_slips_single.html"
    base = current_app.config["BASE_URL"].rstrip("/")
    chunks = []
    for start in range(0, len(slips), per_chunk):
        part = slips[start : start + per_chunk]
        chunks.append(
            render_template(
                template,
                pages=[part[i : i + per_page] for i in range(0, len(part), per_page)],
                sheet=sheet,
                # A hair under the exact share, so rounding never pushes a row onto a new page.
                slip_height_mm=round(sheet.inner_height_mm / max(rows, 1) - 0.3, 2),
                sign_in_url=f"{base}/sign-in",
            )
        )
    return chunks


def render_slips(
    slips: Sequence[Slip],
    options: SlipOptions,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> bytes:
    """Render slips to one PDF (large sets in parallel on every core)."""
    if not slips:
        raise ValueError("no slips to print")
    chunks = slip_chunks(slips, options)
    return render.render_chunks(chunks, current_app.static_folder, progress=progress)
