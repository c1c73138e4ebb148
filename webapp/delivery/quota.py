"""Relay quotas: pace sends to MAIL_RATE_LIMIT and SMS_RATE_LIMIT across every worker.

A quota such as "30 per minute; 10000 per day" is a list of moving windows: at most `amount`
sends in any `seconds`-long span, counted for the whole deployment (every worker, every
batch). A batch asks `take()` before each message and sleeps for the answer when it is not
0.0, so a spent daily quota simply makes it wait until tomorrow.

Counts live in Redis when REDIS_URL is set (the limits package's moving window, the same
one Flask-Limiter uses), otherwise in the relay_sends table.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter

import limits
from flask import Flask, current_app
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from limits.util import SEPARATORS
from sqlalchemy import Connection, delete, func, insert, select, text

from webapp.extensions import db
from webapp.models import RelaySend

SETTINGS = {"email": "MAIL_RATE_LIMIT", "sms": "SMS_RATE_LIMIT"}
REDIS_KEY_PREFIX = "keyslip-relay"
# Records are kept at least this long when no quota is configured to say how long.
DEFAULT_KEEP_SECONDS = 24 * 60 * 60
# The smallest wait ever answered: a refused take() never looks like a granted one (0.0).
MIN_WAIT = 0.001


@dataclass(frozen=True)
class Limit:
    """One "N per period" of a quota: at most `amount` sends in any `seconds`-long span."""

    amount: int
    seconds: int
    text: str  # as written, e.g. "30 per minute"


def parse(setting: str, value: object) -> list[Limit]:
    """Return the limits a setting describes; RuntimeError naming the setting if unreadable."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return []
    example = "'30 per minute; 10000 per day'"
    try:
        items = limits.parse_many(value)  # type: ignore[arg-type]  # ValueError unless a str
    except ValueError:
        raise RuntimeError(
            f"{setting} (FLASK_{setting}) must read like {example}, not {value!r}"
        ) from None
    pieces = [piece.strip() for piece in SEPARATORS.split(str(value))]
    quota = [Limit(i.amount, i.get_expiry(), t) for i, t in zip(items, pieces, strict=True)]
    if any(limit.amount < 1 for limit in quota):
        raise RuntimeError(f"{setting} (FLASK_{setting}) would never let a message out: {value!r}")
    return quota


def init_app(app: Flask) -> None:
    """Refuse to start with a quota that cannot be read, rather than fail mid-batch."""
    for setting in SETTINGS.values():
        parse(setting, app.config.get(setting))


def limits_for(channel: str) -> list[Limit]:
    """Return the channel's configured quota ([] when none: send as fast as the relay takes)."""
    if channel not in SETTINGS:
        raise ValueError(f"no relay quota for channel {channel!r}")
    setting = SETTINGS[channel]
    return parse(setting, current_app.config.get(setting))


def take(channel: str, now: float | None = None) -> float:
    """Take one send slot: 0.0 if taken, else the seconds to wait before asking again.

    Atomic across processes: however many workers ask, no window ever grants more than its
    amount. The database backend commits its own short transaction on a connection of its
    own, so the caller's session is untouched; on SQLite, whose writers queue, call it with
    no write of the caller's pending (commit first), or it waits for the caller's lock.
    `now` sets the database backend's clock (tests); Redis uses the limits package's clock.
    """
    quota = limits_for(channel)
    if not quota:
        return 0.0
    if current_app.config.get("REDIS_URL"):
        return _redis_take(channel, quota)
    return _database_take(channel, quota, time.time() if now is None else now)


def used(channel: str, seconds: int, now: float | None = None) -> int:
    """Return the slots taken in the last `seconds` (e.g. today's share of a daily quota).

    On Redis the count is exact up to the quota's longest period and capped at its amount.
    """
    if current_app.config.get("REDIS_URL"):
        return _redis_used(channel, seconds)
    now = time.time() if now is None else now
    with db.engine.connect() as conn:
        count = conn.scalar(
            select(func.count())
            .select_from(RelaySend)
            .where(RelaySend.channel == channel, RelaySend.sent_at > _moment(now - seconds))
        )
    return count or 0


def purge(older_than_seconds: int | None = None, now: float | None = None) -> int:
    """Delete send records older than this, never younger than the longest quota period.

    Returns how many went; commits its own transaction (see take() about SQLite).
    """
    longest = max(
        (limit.seconds for channel in SETTINGS for limit in limits_for(channel)),
        default=DEFAULT_KEEP_SECONDS,
    )
    keep = max(older_than_seconds or 0, longest)
    cutoff = _moment((time.time() if now is None else now) - keep)
    with db.engine.begin() as conn:
        return conn.execute(delete(RelaySend).where(RelaySend.sent_at <= cutoff)).rowcount


# The database backend: lock the channel, count each window, record the send, commit.


def _database_take(channel: str, quota: list[Limit], now: float) -> float:
    with db.engine.connect() as conn:
        _lock(conn, channel)
        wait = max(_database_wait(conn, channel, limit, now) for limit in quota)
        if not wait:
            conn.execute(insert(RelaySend).values(channel=channel, sent_at=_moment(now)))
        conn.commit()
    return wait


def _lock(conn: Connection, channel: str) -> None:
    """Hold off every other taker of this channel until commit, before anything is counted."""
    if conn.dialect.name == "postgresql":
        key = zlib.crc32(f"keyslip relay quota {channel}".encode())
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    else:
        # SQLite has one writer: take the write lock now instead of at the insert.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _database_wait(conn: Connection, channel: str, limit: Limit, now: float) -> float:
    """Return 0.0 if the window has room, else when its amount-th latest send leaves it."""
    blocking = conn.scalar(
        select(RelaySend.sent_at)
        .where(RelaySend.channel == channel, RelaySend.sent_at > _moment(now - limit.seconds))
        .order_by(RelaySend.sent_at.desc())
        .offset(limit.amount - 1)
        .limit(1)
    )
    if blocking is None:
        return 0.0
    return max(blocking.timestamp() + limit.seconds - now, MIN_WAIT)


def _moment(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


# The Redis backend: one moving-window list per limit (limits.strategies.MovingWindowRateLimiter).


def _redis_take(channel: str, quota: list[Limit]) -> float:
    """Hit each window, shortest period first; stop at the first that is full.

    Each hit is atomic, the set of them is not: when a later window is full, the earlier
    ones keep a slot that sent nothing. That errs on the safe side (fewer messages, never
    more), and shortest first means the slot lost is a minute's, not a day's.
    """
    limiter = _redis_limiter()
    items = _items(quota)
    for item in items:
        if not limiter.hit(item, "relay", channel):
            now = time.time()
            waits = [limiter.get_window_stats(i, "relay", channel) for i in items]
            return max([s.reset_time - now for s in waits if s.remaining < 1] + [MIN_WAIT])
    return 0.0


def _redis_used(channel: str, seconds: int) -> int:
    quota = limits_for(channel)
    if not quota:
        return 0
    # Only a complete take reaches the longest window, so its entries are the slots taken.
    longest = _items(quota)[-1]
    storage = _redis_limiter().storage
    return storage.get_moving_window(longest.key_for("relay", channel), longest.amount, seconds)[1]


def _items(quota: list[Limit]) -> list[limits.RateLimitItem]:
    ordered = sorted(quota, key=attrgetter("seconds"))
    return [limits.RateLimitItemPerSecond(limit.amount, limit.seconds) for limit in ordered]


def _redis_limiter() -> MovingWindowRateLimiter:
    """Return this app's limiter on Redis, made on first use (no connection at start-up)."""
    limiter = current_app.extensions.get("relay_quota")
    if limiter is None:
        storage = storage_from_string(current_app.config["REDIS_URL"], key_prefix=REDIS_KEY_PREFIX)
        limiter = current_app.extensions["relay_quota"] = MovingWindowRateLimiter(storage)
    return limiter
