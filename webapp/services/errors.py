"""Domain errors the views map to HTTP answers."""

from __future__ import annotations


class DomainError(Exception):
    """A rule said no; the message is safe to show to the person who asked."""


class NotAllowed(DomainError):
    """The actor may not touch this object. Shown as 404 so existence is not confirmed."""

    def __init__(self, what: str, target_type: str | None = None, target_id: int | None = None):
        super().__init__(what)
        self.what = what
        self.target_type = target_type
        self.target_id = target_id


class PolicyError(DomainError):
    """Input broke a rule (for example the password policy); `problems` says which."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems
