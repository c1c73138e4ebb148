"""The states an import run moves through, and the steps of a running import."""

from __future__ import annotations

from webapp.models import (
    ImportRun,
)
from webapp.services.errors import PolicyError

# Statuses an ImportRun moves through. A preview waits as pending (dry run) until applied.
PENDING, RUNNING, APPLIED, FAILED = "pending", "running", "applied", "failed"


# The steps of a running import, in order, as its progress bar shows them.
READING, CHECKING, WRITING = "reading", "checking", "writing"


STAGES = (READING, CHECKING, WRITING)


NEEDS_CONFIRMATION = "needs_confirmation"


SKIPPED = "skipped"


FINISHED = frozenset({APPLIED, FAILED, SKIPPED, "previewed", "blocked"})


# Statuses the console home warns about.
ALERT_STATUSES = (FAILED, NEEDS_CONFIRMATION)


CSV_FORMAT = "csv"


def require_pending(run: ImportRun) -> None:
    if run.status not in (PENDING, NEEDS_CONFIRMATION) or not run.dry_run:
        raise PolicyError(["This import has already been applied or has finished."])
