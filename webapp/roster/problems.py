"""Collect problems while reading; order and cap them only when they are shown."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from webapp.roster.records import Problem, Severity

# A page shows at most this many problems of one kind in one file and column, then says how
# many more there are: 50,000 identical "invalid phone" rows help nobody read. The run, its
# counts and its problems CSV keep every one.
SIMILAR_LIMIT = 100
SEVERITY_ORDER = {"error": 0, "warning": 1}


class ProblemLog:
    """Gather every Problem and note for one import."""

    __slots__ = ("problems", "notes")

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.notes: list[str] = []

    def add(
        self,
        severity: Severity,
        file: str,
        line: int | None,
        column: str | None,
        message: str,
        *,
        kind: str | None = None,
    ) -> None:
        """Record a problem; kind groups similar ones when they are shown."""
        self.problems.append(Problem(severity, file, line, column, message, kind))

    def error(
        self,
        file: str,
        line: int | None,
        column: str | None,
        message: str,
        *,
        kind: str | None = None,
    ) -> None:
        """Record something that blocks applying the import."""
        self.add("error", file, line, column, message, kind=kind)

    def warning(
        self,
        file: str,
        line: int | None,
        column: str | None,
        message: str,
        *,
        kind: str | None = None,
    ) -> None:
        """Record something worth a look that does not block the import."""
        self.add("warning", file, line, column, message, kind=kind)

    def note(self, text: str) -> None:
        """Record a remark that is not a problem (ignored columns, files)."""
        if text not in self.notes:
            self.notes.append(text)

    def has_file_error(self, files: set[str] | None = None) -> bool:
        """Tell whether a whole-file error was recorded (for these files)."""
        return any(
            p.severity == "error" and p.line is None and (files is None or p.file in files)
            for p in self.problems
        )

    def finish(self) -> list[Problem]:
        """Return every problem recorded."""
        return self.problems


def errors_first(problems: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Order problems as people fix them: errors, then warnings; file order within each."""
    return sorted(problems, key=lambda p: SEVERITY_ORDER.get(p["severity"], 2))


def capped(
    problems: Iterable[Mapping[str, Any]], limit: int = SIMILAR_LIMIT
) -> list[Mapping[str, Any]]:
    """Keep the first `limit` problems of each kind, then one line saying how many more."""
    seen: Counter[tuple[Any, ...]] = Counter()
    shown: list[Mapping[str, Any]] = []
    for problem in problems:
        key = _similar(problem)
        seen[key] += 1
        if seen[key] <= limit:
            shown.append(problem)
    for key, total in seen.items():
        if total > limit:
            severity, file, column, _ = key
            shown.append(
                {
                    "severity": severity,
                    "file": file,
                    "line": None,
                    "column": column,
                    "message": f"... and {total - limit} more like the ones above "
                    "(the problems CSV lists them all).",
                    "kind": "more",
                }
            )
    return errors_first(shown)


def _similar(problem: Mapping[str, Any]) -> tuple[Any, ...]:
    kind = problem.get("kind") or problem["message"]
    return (problem["severity"], problem["file"], problem.get("column"), kind)
