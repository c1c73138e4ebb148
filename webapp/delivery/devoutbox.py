"""Development outbox: mail and SMS kept as files in the instance folder, shown at /dev/outbox.

Used only in development with no MAIL_SERVER, so a newcomer can click a set-password link.
The files hold live links by design; they never exist in production (the page is not even
registered there) and are readable by the owner only.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flask import current_app

_ID = re.compile(r"[0-9]{19}-[0-9a-f]{8}")


@dataclass(frozen=True)
class OutboxMessage:
    id: str
    channel: str
    to: str
    subject: str
    text: str
    html: str | None
    created: float

    @property
    def when(self) -> str:
        return datetime.fromtimestamp(self.created, UTC).strftime("%Y-%m-%d %H:%M:%S")


def folder() -> Path:
    path = Path(current_app.instance_path) / "dev-outbox"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def enabled() -> bool:
    cfg = current_app.config
    return cfg["ENVIRONMENT"] == "development" and not cfg.get("MAIL_SERVER")


def store(channel: str, to: str, subject: str, text: str, html: str | None = None) -> str:
    """Write one message to the outbox and return its id."""
    message_id = f"{time.time_ns():019d}-{secrets.token_hex(4)}"
    path = folder() / f"{message_id}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(
            {"channel": channel, "to": to, "subject": subject, "text": text, "html": html}, fh
        )
    return message_id


def _load(path: Path) -> OutboxMessage:
    data = json.loads(path.read_text("utf-8"))
    return OutboxMessage(
        id=path.stem,
        channel=data["channel"],
        to=data["to"],
        subject=data["subject"],
        text=data["text"],
        html=data.get("html"),
        created=int(path.stem.split("-")[0]) / 1e9,
    )


def messages(limit: int = 200) -> list[OutboxMessage]:
    """Return the newest messages first."""
    paths = sorted(folder().glob("*.json"), reverse=True)[:limit]
    return [_load(path) for path in paths if _ID.fullmatch(path.stem)]


def message(message_id: str) -> OutboxMessage | None:
    """Return one message; ids are checked so no path outside the outbox can be read."""
    if not _ID.fullmatch(message_id):
        return None
    path = folder() / f"{message_id}.json"
    return _load(path) if path.exists() else None
