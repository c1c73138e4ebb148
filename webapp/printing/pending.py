"""Large prints that run as a job: their progress, and the finished PDF until its download.

Each print has a random id and two files in instance/print-pending/: `<id>.json` (who
asked, which batch, progress; nothing secret) and `<id>.pdf.enc`, the PDF sealed with
AES-GCM under a key derived from SECRET_KEY (HKDF, its own label; the id is bound in as
associated data). Only the person who asked may download it, once: the files are deleted as
it is read. `purge_pending_pdfs()` deletes any left after PRINT_PENDING_HOURS.
"""

from __future__ import annotations

import enum
import json
import os
import re
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from webapp.models import User, utcnow

_ID = re.compile(r"^[0-9a-f]{32}$")
_LABEL = b"keyslip pending print encryption v1"


class PrintState(enum.StrEnum):
    RENDERING = "rendering"
    READY = "ready"
    FAILED = "failed"


class PendingMissing(Exception):
    """No such print for this person (never existed, someone else's, downloaded or purged)."""


@dataclass
class PendingPrint:
    id: str
    batch_id: int
    requested_by_id: int
    created_at: datetime
    people: int
    options: dict[str, Any] = field(default_factory=dict)
    state: PrintState = PrintState.RENDERING
    percent: int = 0
    error: str | None = None

    def as_json(self) -> str:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> PendingPrint:
        data = json.loads(text)
        data["created_at"] = datetime.fromisoformat(data["created_at"])
        data["state"] = PrintState(data["state"])
        return cls(**data)


@cache
def _aead(secret_key: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL).derive(
        secret_key.encode()
    )
    return AESGCM(key)


def pending_dir() -> Path:
    """Return the folder of pending prints, creating it owner-only."""
    folder = Path(current_app.instance_path) / "print-pending"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def _meta_path(print_id: str) -> Path:
    if not _ID.match(print_id or ""):
        raise PendingMissing("not a print id")
    return pending_dir() / f"{print_id}.json"


def _pdf_path(print_id: str) -> Path:
    return _meta_path(print_id).with_suffix(".pdf.enc")


def _write(path: Path, data: bytes) -> None:
    """Write owner-only, replacing the file in one step (readers never see half of it)."""
    partial = path.with_name(path.name + ".part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    partial.replace(path)


def create(batch_id: int, requester: User, people: int, options: dict[str, Any]) -> PendingPrint:
    pending = PendingPrint(secrets.token_hex(16), batch_id, requester.id, utcnow(), people, options)
    save(pending)
    return pending


def save(pending: PendingPrint) -> None:
    _write(_meta_path(pending.id), pending.as_json().encode())


def load(print_id: str) -> PendingPrint:
    try:
        return PendingPrint.from_json(_meta_path(print_id).read_text())
    except FileNotFoundError as exc:
        raise PendingMissing("print gone") from exc


def load_for(print_id: str, requester: User) -> PendingPrint:
    """Return a print the requester asked for; anyone else's looks missing."""
    pending = load(print_id)
    if pending.requested_by_id != requester.id:
        raise PendingMissing("someone else's print")
    return pending


def rendering_for_batch(batch_id: int) -> PendingPrint | None:
    """Return the print of this batch still rendering, if there is one."""
    for meta in pending_dir().glob("*.json"):
        try:
            record = PendingPrint.from_json(meta.read_text())
        except (OSError, ValueError, TypeError, KeyError):
            continue
        if record.batch_id == batch_id and record.state is PrintState.RENDERING:
            return record
    return None


def store_pdf(pending: PendingPrint, pdf: bytes) -> None:
    """Seal the finished PDF to disk (state stays rendering until mark_ready)."""
    nonce = secrets.token_bytes(12)
    sealed = nonce + _aead(current_app.config["SECRET_KEY"]).encrypt(
        nonce, pdf, pending.id.encode()
    )
    _write(_pdf_path(pending.id), sealed)


def mark_ready(pending: PendingPrint) -> None:
    pending.state, pending.percent = PrintState.READY, 100
    save(pending)


def mark_failed(pending: PendingPrint, reason: str) -> None:
    _pdf_path(pending.id).unlink(missing_ok=True)
    pending.state, pending.error = PrintState.FAILED, reason
    save(pending)


def take_pdf(print_id: str, requester: User) -> tuple[PendingPrint, bytes]:
    """Return the finished PDF to the person who asked for it, deleting it: one download."""
    pending = load_for(print_id, requester)
    if pending.state is not PrintState.READY:
        raise PendingMissing("not ready")
    try:
        sealed = _pdf_path(print_id).read_bytes()
    except FileNotFoundError as exc:
        raise PendingMissing("already downloaded") from exc
    delete(print_id)
    try:
        pdf = _aead(current_app.config["SECRET_KEY"]).decrypt(
            sealed[:12], sealed[12:], print_id.encode()
        )
    except InvalidTag as exc:
        raise PendingMissing("cannot be decrypted") from exc
    return pending, pdf


def delete(print_id: str) -> None:
    _pdf_path(print_id).unlink(missing_ok=True)
    _meta_path(print_id).unlink(missing_ok=True)


def purge_pending_pdfs(now: datetime | None = None) -> int:
    """Delete pending prints older than PRINT_PENDING_HOURS, downloaded or not; return how many.

    The main line's periodic housekeeping calls this. Age comes from each print's recorded
    start (UTC), so it does not depend on file times. A PDF without its record is deleted.
    """
    now = now or utcnow()
    cutoff = now - timedelta(hours=current_app.config["PRINT_PENDING_HOURS"])
    purged = 0
    folder = pending_dir()
    for meta in folder.glob("*.json"):
        try:
            pending = PendingPrint.from_json(meta.read_text())
        except (OSError, ValueError, TypeError, KeyError):
            pending = None
        if pending is None or pending.created_at <= cutoff:
            meta.with_name(f"{meta.stem}.pdf.enc").unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
            purged += 1
    for sealed in folder.glob("*.pdf.enc"):
        if not (folder / f"{sealed.name.removesuffix('.pdf.enc')}.json").exists():
            sealed.unlink(missing_ok=True)
            purged += 1
    return purged
