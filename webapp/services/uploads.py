"""Uploaded roster files, kept encrypted at rest until applied or for at most a day.

Each upload is sealed with Fernet under a key derived from SECRET_KEY by HKDF with its own
label, and written under a random name in the instance folder: the uploaded file name never
becomes a path. The purge job deletes anything older than ROSTER_UPLOAD_RETENTION_HOURS.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import time
from functools import cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

_KEY_PATTERN = re.compile(r"^[0-9a-f]{32}$")
_LABEL = b"keyslip roster upload encryption v1"


class UploadMissing(Exception):
    """The stored upload is gone (applied, purged) or cannot be decrypted."""


@cache
def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def upload_dir() -> Path:
    """Return the folder holding encrypted uploads, creating it owner-only."""
    configured = current_app.config.get("ROSTER_UPLOAD_DIR")
    folder = Path(configured) if configured else Path(current_app.instance_path) / "roster-uploads"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def _path(key: str) -> Path:
    if not _KEY_PATTERN.match(key):
        raise UploadMissing("not an upload key")
    return upload_dir() / f"{key}.bin"


def store_upload(name: str, data: bytes) -> str:
    """Encrypt an upload to disk and return its random key."""
    key = secrets.token_hex(16)
    header = json.dumps({"name": name}).encode()
    # The name travels inside the ciphertext: even file names can be personal data.
    sealed = _fernet(current_app.config["SECRET_KEY"]).encrypt(
        len(header).to_bytes(4, "big") + header + data
    )
    path = _path(key)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(sealed)
    return key


def load_upload(key: str | None) -> tuple[str, bytes]:
    """Return (uploaded name, bytes) of a stored upload, or raise UploadMissing."""
    if not key:
        raise UploadMissing("no upload")
    try:
        sealed = _path(key).read_bytes()
    except FileNotFoundError as exc:
        raise UploadMissing("upload deleted") from exc
    try:
        plain = _fernet(current_app.config["SECRET_KEY"]).decrypt(sealed)
    except InvalidToken as exc:
        raise UploadMissing("upload cannot be decrypted") from exc
    size = int.from_bytes(plain[:4], "big")
    header = json.loads(plain[4 : 4 + size])
    return header["name"], plain[4 + size :]


def delete_upload(key: str | None) -> None:
    """Delete a stored upload if it is still there."""
    if key:
        _path(key).unlink(missing_ok=True)


def purge_uploads(max_age_hours: float | None = None) -> int:
    """Delete uploads older than the retention period; return how many went."""
    hours = (
        max_age_hours
        if max_age_hours is not None
        else current_app.config["ROSTER_UPLOAD_RETENTION_HOURS"]
    )
    cutoff = time.time() - hours * 3600
    removed = 0
    for path in upload_dir().glob("*.bin"):
        try:
            if path.stat().st_mtime <= cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed
