"""Words people read instead of codes: grades as a school writes them."""

from __future__ import annotations

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
