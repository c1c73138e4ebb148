"""Set-password links: 32 random bytes in the URL, only their SHA-256 in the database.

A link is bound to the user's credential epoch at issue. Issuing a link rotates the epoch
(DESIGN.md: every re-issue rotates it), so every older link of any purpose and every other
session dies, and older unused links of the same purpose are also marked voided for the log.
Any password change rotates the epoch again and voids the rest (auth.set_password).
Redemption claims the row with a conditional UPDATE, so of two parallel redemptions exactly
one wins.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from webapp.extensions import db
from webapp.models import SetPasswordToken, User, utcnow
from webapp.models.base import UTCDateTime
from webapp.services import audit, auth, settings
from webapp.services.audit import Actor

PURPOSES = ("invite", "reset")
_tokens = SetPasswordToken.__table__
_users = User.__table__
_ROTATE = (
    _users.update()
    .where(_users.c.id == bindparam("b_id"))
    .values(credential_epoch=bindparam("b_epoch"), invited_at=bindparam("b_invited"))
)
_INSERT_TOKENS = _tokens.insert().returning(_tokens.c.id, sort_by_parameter_order=True)
# Built once, with expanding IN lists: issuing for a chunk builds no statement.
_VOID = (
    _tokens.update()
    .where(
        _tokens.c.user_id.in_(bindparam("ids", expanding=True)),
        _tokens.c.purpose == bindparam("b_purpose"),
        _tokens.c.used_at.is_(None),
        _tokens.c.voided_at.is_(None),
    )
    .values(voided_at=bindparam("b_now", type_=UTCDateTime()))
)
# secrets.token_urlsafe(32): 43 characters of URL-safe base64 without padding.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


class LinkStatus(enum.StrEnum):
    VALID = "valid"
    USED = "used"
    EXPIRED = "expired"
    REPLACED = "replaced"  # voided by a newer link, a password change or a rotated epoch
    DEACTIVATED = "deactivated"
    INVALID = "invalid"  # malformed, tampered or unknown


class LinkError(Exception):
    """A link could not be redeemed; `status` says why."""

    def __init__(self, status: LinkStatus, user: User | None = None):
        super().__init__(status.value)
        self.status = status
        self.user = user


@dataclass(frozen=True)
class IssuedLink:
    """A freshly issued link; the URL (the secret) lives only in this object."""

    user_id: int
    url: str
    token_id: int
    purpose: str
    expires_at: datetime


@dataclass(frozen=True)
class LinkCheck:
    status: LinkStatus
    user: User | None = None
    token: SetPasswordToken | None = None


def hash_token(token: str) -> str | None:
    """Return the stored form of a well-formed token, or None for anything else."""
    if not isinstance(token, str) or not _TOKEN_SHAPE.fullmatch(token):
        return None
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def link_url(token: str) -> str:
    """Build the link from the configured base URL, never from the request's Host."""
    return f"{current_app.config['BASE_URL'].rstrip('/')}/set-password/{token}"


def lifetime(purpose: str, user: User, cache: dict | None = None) -> timedelta:
    return lifetime_in(purpose, settings.for_user(user, cache))


def lifetime_in(purpose: str, cfg: Mapping[str, Any]) -> timedelta:
    """How long a link of this purpose lives under one school's settings."""
    if purpose == "invite":
        return timedelta(days=cfg["invite_link_days"])
    return timedelta(minutes=cfg["reset_link_minutes"])


def issue_link(
    user: User,
    *,
    purpose: str = "invite",
    actor: Actor,
    batch_id: int | None = None,
    now: datetime | None = None,
    valid_for: timedelta | None = None,
) -> IssuedLink:
    """Issue a set-password link for a user; the caller commits."""
    return issue_links(
        [user], purpose=purpose, actor=actor, batch_id=batch_id, now=now, valid_for=valid_for
    )[0]


def issue_links(
    users: Sequence[User],
    *,
    purpose: str = "invite",
    actor: Actor,
    batch_id: int | None = None,
    now: datetime | None = None,
    valid_for: timedelta | None = None,
) -> list[IssuedLink]:
    """Issue one set-password link per user in a few statements; the caller commits."""
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}")
    cache: dict = {}
    return issue_links_for(
        [
            LinkRequest(user.id, user.invited_at, valid_for or lifetime(purpose, user, cache))
            for user in users
        ],
        purpose=purpose,
        actor=actor,
        batch_id=batch_id,
        now=now,
    )


@dataclass(frozen=True, slots=True)
class LinkRequest:
    """Who gets a link, for how long: what issuing needs, without loading the User."""

    user_id: int
    invited_at: datetime | None
    valid_for: timedelta


def issue_links_for(
    requests: Sequence[LinkRequest],
    *,
    purpose: str = "invite",
    actor: Actor,
    batch_id: int | None = None,
    now: datetime | None = None,
) -> list[IssuedLink]:
    """Issue one set-password link per request in a few statements; the caller commits.

    Voids the people's unused links of this purpose, rotates their epochs (every older
    link, password and session of theirs dies), stores each token's hash with the new
    epoch and records one credential_issued event per person. Users the session has
    loaded get the new epoch too, so they are not left stale.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}")
    if not requests:
        return []
    now = now or utcnow()
    user_ids = [request.user_id for request in requests]
    db.session.execute(_VOID, {"ids": user_ids, "b_purpose": purpose, "b_now": now})
    tokens = [secrets.token_urlsafe(32) for _ in requests]
    epochs = [secrets.token_hex(16) for _ in requests]
    expiries = [now + request.valid_for for request in requests]
    _sync_loaded_users(
        [(epoch, r.invited_at or now, r.user_id) for epoch, r in zip(epochs, requests, strict=True)]
    )
    db.session.execute(
        _ROTATE,
        [
            {"b_id": r.user_id, "b_epoch": epoch, "b_invited": r.invited_at or now}
            for epoch, r in zip(epochs, requests, strict=True)
        ],
    )
    issued_by_id = actor.id if isinstance(actor, User) else None
    token_ids = db.session.scalars(
        _INSERT_TOKENS,
        [
            {
                "user_id": r.user_id,
                "token_hash": hash_token(token),
                "purpose": purpose,
                "epoch": epoch,
                "created_at": now,
                "expires_at": expires_at,
                "issued_by_id": issued_by_id,
                "batch_id": batch_id,
            }
            for r, token, epoch, expires_at in zip(requests, tokens, epochs, expiries, strict=True)
        ],
    ).all()
    issued = [
        IssuedLink(r.user_id, link_url(token), token_id, purpose, expires_at)
        for r, token, token_id, expires_at in zip(
            requests, tokens, token_ids, expiries, strict=True
        )
    ]
    audit.record_events(
        actor,
        (
            audit.Event(
                "credential_issued",
                "user",
                link.user_id,
                {
                    "kind": "link",
                    "purpose": purpose,
                    "link_id": link.token_id,
                    "batch_id": batch_id,
                    "expires_at": link.expires_at.isoformat(),
                },
            )
            for link in issued
        ),
        at=now,
    )
    return issued


def _sync_loaded_users(epochs: Sequence[tuple[str, datetime, int]]) -> None:
    """Give users already in the session the values just written behind its back."""
    loaded = db.session.identity_map
    if not loaded:
        return
    for epoch, invited_at, user_id in epochs:
        user = loaded.get(identity_key(User, user_id))
        if user is not None:
            set_committed_value(user, "credential_epoch", epoch)
            set_committed_value(user, "invited_at", invited_at)


def check_hash(token_hash: str | None, *, now: datetime | None = None) -> LinkCheck:
    """Say whether a stored-form token is usable now, and if not, why."""
    if not token_hash or len(token_hash) != 64:
        return LinkCheck(LinkStatus.INVALID)
    row = db.session.scalar(
        select(SetPasswordToken).where(SetPasswordToken.token_hash == token_hash)
    )
    # The lookup is by hash, so timing reveals nothing about a valid token; compare anyway.
    if row is None or not hmac.compare_digest(row.token_hash, token_hash):
        return LinkCheck(LinkStatus.INVALID)
    user = db.session.get(User, row.user_id)
    now = now or utcnow()
    if row.used_at is not None:
        status = LinkStatus.USED
    elif user is None or user.deactivated_at is not None:
        status = LinkStatus.DEACTIVATED
    elif row.voided_at is not None or not hmac.compare_digest(row.epoch, user.credential_epoch):
        status = LinkStatus.REPLACED
    elif row.expires_at <= now:
        status = LinkStatus.EXPIRED
    else:
        status = LinkStatus.VALID
    return LinkCheck(status, user, row)


def check_token(token: str, *, now: datetime | None = None) -> LinkCheck:
    return check_hash(hash_token(token), now=now)


def redeem(token_hash: str | None, new_password: str, *, now: datetime | None = None) -> User:
    """Set the password behind a link, activating the account; the caller commits.

    The claim (used_at) is the transaction's first write, so on any error the caller's
    rollback leaves the link unused: a password the policy refuses does not burn it.
    Raises LinkError or PolicyError.
    """
    now = now or utcnow()
    if not token_hash or len(token_hash) != 64:
        raise LinkError(LinkStatus.INVALID)
    claimed = db.session.execute(
        update(SetPasswordToken)
        .where(
            SetPasswordToken.token_hash == token_hash,
            SetPasswordToken.used_at.is_(None),
            SetPasswordToken.voided_at.is_(None),
            SetPasswordToken.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise LinkError(check_hash(token_hash, now=now).status)
    row = db.session.scalar(
        select(SetPasswordToken).where(SetPasswordToken.token_hash == token_hash)
    )
    user = db.session.get(User, row.user_id)
    if user is None or user.deactivated_at is not None:
        raise LinkError(LinkStatus.DEACTIVATED)
    if not hmac.compare_digest(row.epoch, user.credential_epoch):
        raise LinkError(LinkStatus.REPLACED, user)
    auth.set_password(user, new_password, actor=user)
    audit.record(user, "link_redeemed", user, link_id=row.id, purpose=row.purpose)
    return user
