"""Access logs without secrets: a set-password link's or badge's token never reaches a log.

An invite link stays valid for days, so `GET /set-password/<token>` in an access log would
hand the account to whoever reads the log. gunicorn's access log (webapp/gunicorn_conf.py)
and the development server's request log both write the path with the token replaced.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

REDACTED = "[redacted]"
# Every URL that carries a secret in its path, up to the next space, query or fragment.
_SECRET_PATH = re.compile(r"(/set-password/|/badge/)[^\s?#\"]+")


def redact(text: str) -> str:
    """Return text with the secret part of any credential URL replaced."""
    return _SECRET_PATH.sub(rf"\g<1>{REDACTED}", text)


class RedactingGunicornLogger(GunicornLogger):
    """gunicorn's logger, with the request line and path redacted in the access log."""

    def atoms(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict:
        values = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "{raw_uri}e"):
            if isinstance(values.get(key), str):
                values[key] = redact(values[key])
        return values


class RedactingFilter(logging.Filter):
    """Redact the development server's request lines (werkzeug logs them as arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install_dev_server_filter() -> None:
    """Make the development server's request log redact credential URLs (idempotent)."""
    logger = logging.getLogger("werkzeug")
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
