"""The states an import run moves through, and the steps of a running import.

The statuses and stages are enums on the model (ImportRun's methods move between them);
these names let the package say them briefly.
"""

from __future__ import annotations

from webapp.models import ImportRun, ImportRunStatus, ImportStage
from webapp.services.errors import PolicyError

PENDING = ImportRunStatus.PENDING
RUNNING = ImportRunStatus.RUNNING
APPLIED = ImportRunStatus.APPLIED
FAILED = ImportRunStatus.FAILED
SKIPPED = ImportRunStatus.SKIPPED
NEEDS_CONFIRMATION = ImportRunStatus.NEEDS_CONFIRMATION


# The steps of a running import, in order, as its progress bar shows them.
READING, CHECKING, WRITING = ImportStage.READING, ImportStage.CHECKING, ImportStage.WRITING


# Statuses the console home warns about.
ALERT_STATUSES = (FAILED, NEEDS_CONFIRMATION)


CSV_FORMAT = "csv"


def require_pending(run: ImportRun) -> None:
    """Refuse a change to a run that is no longer a preview waiting for a decision."""
    if not run.previewable:
        raise PolicyError(["This import has already been applied or has finished."])
