"""Collect problems while reading, without letting one bad column flood the report."""

from __future__ import annotations

from collections import Counter

from webapp.roster.records import Problem, Severity

# Past this many problems of one kind in one file and column, further ones are
# only counted: 50,000 identical "invalid phone" rows help nobody.
SIMILAR_LIMIT = 100


class ProblemLog:
    """Gather Problems and notes for one import."""

    __slots__ = ("problems", "notes", "_seen", "_hidden")

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.notes: list[str] = []
        self._seen: Counter[tuple[str, str, str | None, str]] = Counter()
        self._hidden: Counter[tuple[str, str, str | None, str]] = Counter()

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
        """Record a problem; kind groups similar ones for capping."""
        key = (severity, file, column, kind or message)
        self._seen[key] += 1
        if self._seen[key] > SIMILAR_LIMIT:
            self._hidden[key] += 1
            return
        self.problems.append(Problem(severity, file, line, column, message))

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
        """Return all problems, with one summary per capped kind."""
        for (severity, file, column, _kind), hidden in self._hidden.items():
            self.problems.append(
                Problem(
                    severity,
                    file,
                    None,
                    column,
                    f"... and {hidden} more problems like the ones above in this "
                    "file; fix those and upload again to see them all.",
                )
            )
        self._hidden.clear()
        return self.problems
