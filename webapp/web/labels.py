"""Words people read instead of codes: grades as a school writes them, local times."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from webapp.models import School, User
from webapp.services import settings

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


def when(moment: datetime | None, school: School | User | int | None = None) -> str:
    """A stored UTC time on a school's clock, or the district's: "6 Dec 2026 14:05 EST".

    A user stands for their school as settings.for_user picks it.
    """
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(settings.zone(school))
    return f"{local.day} {local:%b %Y %H:%M} {local.tzname()}"


def zone_name(school: School | User | int | None = None) -> str:
    """The name of the clock a school (or the district) keeps: "America/Chicago"."""
    return settings.zone(school).key
