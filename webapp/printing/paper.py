"""Paper sizes and the school setting that picks one."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from webapp.services import settings


class PaperSize(enum.StrEnum):
    A4 = "A4"
    LETTER = "Letter"


@dataclass(frozen=True)
class Sheet:
    """A sheet's printable area: @page size, and the space inside the margins (mm)."""

    css_size: str
    width_mm: float
    height_mm: float
    margin_mm: float = 8.0

    @property
    def inner_height_mm(self) -> float:
        return self.height_mm - 2 * self.margin_mm


SHEETS = {
    PaperSize.A4: Sheet("A4", 210.0, 297.0),
    PaperSize.LETTER: Sheet("letter", 215.9, 279.4),
}


def paper_for_school(school_id: int | None) -> PaperSize:
    """Return the paper size a school prints on (its setting, else the district's)."""
    return PaperSize(settings.get("paper_size", school_id))
