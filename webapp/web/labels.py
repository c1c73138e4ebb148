"""Words people read instead of codes: grades as a school writes them, local times."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import current_app

# CEDS grade codes (what the importer stores) -> what a US school office writes.
_GRADE_NAMES = {
    "IT": "Infant/toddler",
    "PR": "Preschool",
    "PK": "Pre-K",
    "TK": "Transitional kindergarten",
    "KG": "Kindergarten",
    "PS": "Postsecondary",
    "UG": "Ungraded",
    "Other": "Other",
}


def grade_label(code: str | None) -> str:
    """Return "Grade 4" for "04", "Kindergarten" for "KG"; anything else as it is."""
    if not code:
        return ""
    if code in _GRADE_NAMES:
        return _GRADE_NAMES[code]
    if code.isdigit():
        return f"Grade {int(code)}"
    return code


def natural_key(text: str) -> list[tuple[int, int | str]]:
    """Sort key that orders numbers by value: "Art 6" < "Art 9" < "Art 11"."""
    return [(0, int(part)) if part.isdigit() else (1, part.casefold())
            for part in re.split(r"(\d+)", text) if part]  # fmt: skip


def when(moment: datetime | None) -> str:
    """A stored UTC time as the district's clock shows it: "6 Dec 2026 14:05 EST"."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(ZoneInfo(current_app.config["TIME_ZONE"]))
    return f"{local.day} {local:%b %Y %H:%M} {local.tzname()}"
