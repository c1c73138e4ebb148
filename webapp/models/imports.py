"""Roster import runs: their statuses and stages, the moves between them, their counts."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from webapp.extensions import db
from webapp.models.base import EnumString, UTCDateTime, utcnow


class ImportRunStatus(enum.StrEnum):
    """Where an import run stands; ImportRun's methods are the only moves between them."""

    # A preview waiting for a decision (dry_run), or an apply queued for a worker.
    PENDING = "pending"
    RUNNING = "running"
    APPLIED = "applied"
    FAILED = "failed"
    # Byte-identical to the last import applied, with nothing moved since: not planned.
    SKIPPED = "skipped"
    # Stopped at the safety valve: a preview again, waiting for the removals to be confirmed.
    NEEDS_CONFIRMATION = "needs_confirmation"
    # Finished dry runs recorded by earlier versions; kept readable, never written now.
    PREVIEWED = "previewed"
    BLOCKED = "blocked"


class ImportStage(enum.StrEnum):
    """The steps of a running import, in order, as its progress bar shows them."""

    READING = "reading"
    CHECKING = "checking"
    WRITING = "writing"


# The choices an import offers, backed by CHECK constraints.
IMPORT_PASSWORDS = ("keep", "set")
IMPORT_SENDS = ("none", "email", "sms", "print")
IMPORT_DATE_ORDERS = ("DMY", "MDY")


class ImportRunStateError(RuntimeError):
    """An import run was asked for a move its status does not allow."""


@dataclass(frozen=True, slots=True)
class ImportCounts:
    """What a planned import adds, changes and removes, and how many problems it has."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivate: int = 0
    reactivate: int = 0
    guardian_links: int = 0
    guardian_links_removed: int = 0
    schools: int = 0
    classes: int = 0
    classes_updated: int = 0
    classes_removed: int = 0
    enrollments: int = 0
    enrollments_removed: int = 0
    memberships_removed: int = 0
    file_credentials_new: int = 0
    file_credentials_reset: int = 0
    file_credentials_left_alone: int = 0
    credentials_to_generate: int = 0
    errors: int = 0
    warnings: int = 0
    held_back_rows: int = 0
    held_back_dependents: int = 0

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ImportCounts:
        """Read counts as a plan gives them or a row stores them; a missing count is 0."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: int(v) for k, v in values.items() if k in known and v is not None})

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __getitem__(self, name: str) -> int:
        # Templates and reports look counts up by name.
        if name not in self.__dataclass_fields__:
            raise KeyError(name)
        return getattr(self, name)


class ImportCountsType(TypeDecorator):
    """ImportCounts as a JSON object; a run not planned yet stores {} and reads None."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: ImportCounts | None, dialect) -> dict[str, int]:
        if value is None or value == {}:
            return {}
        if not isinstance(value, ImportCounts):
            raise TypeError("ImportRun.counts takes ImportCounts")
        return value.as_dict()

    def process_result_value(self, value: dict[str, Any] | None, dialect) -> ImportCounts | None:
        return ImportCounts.from_dict(value) if value else None


def _in(column: str, values: Sequence[str]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


class ImportRun(db.Model):
    """One roster import: a preview waiting for a decision, a queued or finished apply, a sync.

    Its status moves only through the methods below (webapp.imports calls them); each
    refuses a move its status does not allow.
    """

    __tablename__ = "import_runs"
    __table_args__ = (
        CheckConstraint(_in("status", list(ImportRunStatus)), name="status_known"),
        CheckConstraint(_in("stage", list(ImportStage)), name="stage_known"),
        CheckConstraint(_in("passwords", IMPORT_PASSWORDS), name="passwords_known"),
        CheckConstraint(_in("send", IMPORT_SENDS), name="send_known"),
        CheckConstraint(_in("date_order", IMPORT_DATE_ORDERS), name="date_order_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id", ondelete="SET NULL"))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(40))
    format: Mapped[str] = mapped_column(String(20))
    mode: Mapped[str] = mapped_column(String(20))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[ImportRunStatus] = mapped_column(
        EnumString(ImportRunStatus, 20), default=ImportRunStatus.PENDING
    )
    # While applying: the step reached (the page's progress bar follows it).
    stage: Mapped[ImportStage | None] = mapped_column(EnumString(ImportStage, 20))
    # None until the upload is planned.
    counts: Mapped[ImportCounts | None] = mapped_column(
        ImportCountsType, default=dict, nullable=False
    )
    row_errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # How to read the spreadsheet's columns (webapp.imports.mapping owns these keys).
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Random name of the encrypted upload in the instance folder; None once deleted.
    upload_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Where the run came from: "web", "cli" or "sync:<folder>".
    origin: Mapped[str] = mapped_column(String(60), default="web")
    file_name: Mapped[str | None] = mapped_column(String(255))
    # The admin's choices (the upload form or the CLI's flags). complete None: the file says.
    complete: Mapped[bool | None] = mapped_column(Boolean)
    username_template: Mapped[str] = mapped_column(String(60), default="{first}.{last}")
    date_order: Mapped[str | None] = mapped_column(String(3))
    passwords: Mapped[str] = mapped_column(String(10), default="keep")
    send: Mapped[str] = mapped_column(String(10), default="none")
    skip_errors: Mapped[bool] = mapped_column(Boolean, default=False)
    create_schools: Mapped[bool] = mapped_column(Boolean, default=False)
    confirm_deactivation: Mapped[bool] = mapped_column(Boolean, default=False)
    # The kept preview: its encrypted file's key, and what it was planned from.
    preview_key: Mapped[str | None] = mapped_column(String(64))
    preview_tag: Mapped[str | None] = mapped_column(String(64))
    # People an applied run updated who are sent a fresh link with the new accounts.
    updated_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # What the unchanged-file check compares: the upload, and the database an apply left.
    upload_sha256: Mapped[str | None] = mapped_column(String(64))
    upload_bytes: Mapped[int | None] = mapped_column(Integer)
    db_fingerprint: Mapped[str | None] = mapped_column(String(64))
    next_leave_date: Mapped[date | None] = mapped_column(Date)

    def __init__(self, **values: Any) -> None:
        # A new run is a preview waiting for a decision, before as after its first flush.
        values.setdefault("status", ImportRunStatus.PENDING)
        values.setdefault("dry_run", True)
        super().__init__(**values)

    @property
    def previewable(self) -> bool:
        """Tell whether the run is a preview waiting for the admin's decision."""
        return self.dry_run and self.status in (
            ImportRunStatus.PENDING,
            ImportRunStatus.NEEDS_CONFIRMATION,
        )

    @property
    def busy(self) -> bool:
        """Tell whether an apply is queued or running."""
        return not self.dry_run and self.status in (
            ImportRunStatus.PENDING,
            ImportRunStatus.RUNNING,
        )

    def _move(self, action: str, allowed: Sequence[ImportRunStatus]) -> None:
        if self.status not in allowed:
            raise ImportRunStateError(
                f"Import run {self.id} is {self.status}: it cannot be {action} "
                f"(only a run that is {' or '.join(allowed)} can)."
            )

    def previewed(self, counts: ImportCounts, problems: list[dict[str, Any]]) -> None:
        """Keep a preview's counts and problems on a run waiting for a decision."""
        if not self.previewable:
            raise ImportRunStateError(
                f"Import run {self.id} is {self.status}: only a preview keeps a preview."
            )
        self.counts, self.row_errors = counts, problems

    def request_apply(
        self, *, actor_id: int, confirm: bool, skip_errors: bool, counts: ImportCounts
    ) -> None:
        """Queue a previewed run for the apply job."""
        if not self.previewable:
            raise ImportRunStateError(
                f"Import run {self.id} is {self.status}: only a preview can be applied."
            )
        self.status = ImportRunStatus.PENDING
        self.dry_run = False
        self.requested_by_id = actor_id
        self.confirm_deactivation, self.skip_errors, self.counts = confirm, skip_errors, counts

    def queue(self) -> None:
        """Hand a run nobody previews (a scheduled sync) to the apply job, unconfirmed."""
        if not self.previewable:
            raise ImportRunStateError(
                f"Import run {self.id} is {self.status}: only a preview can be queued."
            )
        self.status, self.dry_run, self.confirm_deactivation = ImportRunStatus.PENDING, False, False

    @classmethod
    def claim(cls, run_id: int) -> bool:
        """Move a queued run to running, once: of two workers, one wins. Caller commits."""
        claimed = db.session.execute(
            update(cls)
            .where(
                cls.id == run_id,
                cls.status == ImportRunStatus.PENDING,
                cls.dry_run.is_(False),
            )
            .values(status=ImportRunStatus.RUNNING, started_at=utcnow())
            .execution_options(synchronize_session="fetch")
        ).rowcount
        return bool(claimed)

    def start(self) -> None:
        """Apply a pending run in this process (the CLI), not through the job queue."""
        self._move("started", (ImportRunStatus.PENDING,))
        self.status, self.dry_run, self.started_at = ImportRunStatus.RUNNING, False, utcnow()

    def enter(self, stage: ImportStage) -> None:
        """Record the step a running import has reached."""
        self._move(f"{stage}", (ImportRunStatus.RUNNING,))
        self.stage = ImportStage(stage)

    def applied(self, counts: ImportCounts, problems: list[dict[str, Any]], at: datetime) -> None:
        """Record a running import as written, at the time its changes carry."""
        self._move("applied", (ImportRunStatus.RUNNING,))
        self.status, self.stage, self.dry_run = ImportRunStatus.APPLIED, None, False
        self.counts, self.row_errors, self.finished_at = counts, problems, at

    def failed(self, problems: list[dict[str, Any]]) -> None:
        """End a queued or running import that changed nothing, saying why."""
        self._move("failed", (ImportRunStatus.PENDING, ImportRunStatus.RUNNING))
        self.status, self.stage, self.row_errors = ImportRunStatus.FAILED, None, problems
        self.finished_at = utcnow()

    def needs_confirmation(self, problems: list[dict[str, Any]], *, stopped: bool) -> None:
        """Stop at the safety valve; the run is a preview again, waiting for confirmation.

        stopped: an apply was under way (its end is recorded, and alerts may follow); a CLI
        run that only planned is not stopped.
        """
        self._move("stopped for confirmation", (ImportRunStatus.PENDING, ImportRunStatus.RUNNING))
        self.status, self.stage, self.dry_run = ImportRunStatus.NEEDS_CONFIRMATION, None, True
        self.row_errors = problems
        if stopped:
            self.finished_at = utcnow()

    def skipped(self) -> None:
        """End a run whose file is identical to the last one applied, with nothing moved."""
        self._move("skipped", (ImportRunStatus.PENDING, ImportRunStatus.RUNNING))
        self.status, self.stage, self.dry_run = ImportRunStatus.SKIPPED, None, False
        self.finished_at = utcnow()
