"""What each credential message says, by email (text + HTML) and by SMS.

Roster text (names, school names) reaches three places with different rules: HTML bodies
(Jinja autoescape), plain-text bodies (no markup to escape, but control characters stripped)
and headers (control characters, CR and LF removed, so no header injection). SMS bodies are
kept to the GSM-7 alphabet and one 160-character segment where the link allows.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from flask import current_app
from flask_mail import Message
from markupsafe import escape

# Message kinds, one pair of templates each in templates/email/<kind>.txt and .html.
EMAIL_TEMPLATES = {
    "link": "set_password_link",
    "password": "temporary_password",
    "parent-code": "parent_code",
}

ROLE_NOUNS = {
    "student": "student",
    "parent": "parent",
    "teacher": "teacher",
    "staff": "staff",
    "admin": "administrator",
}


@dataclass(frozen=True)
class Prepared:
    """Everything one message needs, captured as plain values when the credential is issued."""

    delivery_id: int
    user_id: int
    kind: str
    to: str
    route: str
    given_name: str
    display_name: str
    username: str
    role: str
    school_name: str
    secret: str  # the link URL, temporary password or formatted parent code
    expires_at: datetime
    real_address: str | None = None  # set in test mode: who the message was meant for


def clean_line(text: str | None, limit: int = 100) -> str:
    """Make roster text safe for one line: no control characters, CR/LF or bidi overrides."""
    if text and text.isascii() and text.isprintable():
        # The common case, without a Unicode look-up per character: printable ASCII holds
        # no control character, and its only whitespace is the space.
        return " ".join(text.split())[:limit].rstrip()
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in (text or ""))
    text = re.sub(r"\s+", " ", text).strip()
    return text[:limit].rstrip()


def subject_for(prepared: Prepared) -> str:
    school = clean_line(prepared.school_name, 60) or "Your school"
    subjects = {
        "link": f"{school}: set up your Keyslip account",
        "password": f"{school}: your temporary Keyslip password",
        "parent-code": f"{school}: your parent code for Keyslip",
    }
    subject = subjects[prepared.kind]
    if prepared.real_address is not None:
        subject = f"[TEST for {clean_line(prepared.display_name, 40)}] {subject}"
    return subject


def _context(prepared: Prepared) -> dict:
    base = current_app.config["BASE_URL"].rstrip("/")
    return {
        "p": prepared,
        "given_name": clean_line(prepared.given_name, 60) or "there",
        "display_name": clean_line(prepared.display_name, 120),
        "school_name": clean_line(prepared.school_name, 120) or "your school",
        "role_noun": ROLE_NOUNS.get(prepared.role, "school"),
        "expires": prepared.expires_at.strftime("%d %B %Y, %H:%M UTC"),
        "sign_in_url": f"{base}/sign-in",
        "base_url": base,
        "real_address": prepared.real_address,
    }


@dataclass(frozen=True)
class EmailContent:
    """One rendered email, cheap to build; `as_flask_mail()` gives Flask-Mail's Message."""

    sender: str
    to: str
    subject: str
    text: str
    html: str

    def has_bad_headers(self) -> bool:
        return any("\r" in value or "\n" in value for value in (self.sender, self.to, self.subject))

    def as_flask_mail(self) -> Message:
        return Message(
            subject=self.subject,
            recipients=[self.to],
            body=self.text,
            html=self.html,
            sender=self.sender,
        )


# Mail merge: each (kind, school, role, route, test mode) renders its templates once with
# these markers in place of the per-person values; the result is split at the markers, and
# each message joins the pieces with its own values (escaped for HTML). Rendering Jinja for
# every one of thousands of messages costs more than sending them.
_MARKERS = {
    "given_name": "\x00given\x00",
    "display_name": "\x00display\x00",
    "username": "\x00username\x00",
    "secret": "\x00secret\x00",
    "expires": "\x00expires\x00",
    "real_address": "\x00real\x00",
}
_FIELD_OF = {marker: field for field, marker in _MARKERS.items()}
_MARKER_SPLIT = re.compile("(" + "|".join(map(re.escape, _MARKERS.values())) + ")")


@dataclass(frozen=True)
class _Merge:
    """A rendered template split at its markers: static text at even positions."""

    pieces: tuple[str, ...]

    @classmethod
    def of(cls, rendered: str) -> _Merge:
        pieces = _MARKER_SPLIT.split(rendered)
        pieces[1::2] = [_FIELD_OF[marker] for marker in pieces[1::2]]
        return cls(tuple(pieces))

    def fill(self, values: dict[str, str]) -> str:
        pieces = list(self.pieces)
        pieces[1::2] = [values[field] for field in pieces[1::2]]
        return "".join(pieces)


@dataclass(frozen=True)
class _Templates:
    subject: str | None  # None in test mode: the subject names the real recipient
    text: _Merge
    html: _Merge


def _merge_templates(prepared: Prepared) -> _Templates:
    test = prepared.real_address is not None
    key = (prepared.kind, prepared.school_name, prepared.role, prepared.route, test)
    cache = current_app.extensions.setdefault("keyslip_mail_merge", {})
    templates = cache.get(key)
    if templates is None:
        marked = Prepared(
            delivery_id=0,
            user_id=0,
            kind=prepared.kind,
            to="",
            route=prepared.route,
            given_name=_MARKERS["given_name"],
            display_name=_MARKERS["display_name"],
            username=_MARKERS["username"],
            role=prepared.role,
            school_name=prepared.school_name,
            secret=_MARKERS["secret"],
            expires_at=prepared.expires_at,
            real_address=_MARKERS["real_address"] if test else None,
        )
        context = _context(marked)
        context.update(
            given_name=_MARKERS["given_name"],
            display_name=_MARKERS["display_name"],
            expires=_MARKERS["expires"],
        )
        env = current_app.jinja_env
        name = EMAIL_TEMPLATES[prepared.kind]
        if len(cache) > 500:
            cache.clear()
        templates = cache[key] = _Templates(
            subject=None if test else subject_for(prepared),
            text=_Merge.of(env.get_template(f"email/{name}.txt").render(context)),
            html=_Merge.of(env.get_template(f"email/{name}.html").render(context)),
        )
    return templates


@lru_cache(maxsize=64)
def _expires(expires_at: datetime) -> str:
    # A batch's credentials mostly share one expiry: format each distinct one once.
    return expires_at.strftime("%d %B %Y, %H:%M UTC")


def email_message(prepared: Prepared) -> EmailContent:
    """Render the email (plain text and HTML) for one delivery."""
    templates = _merge_templates(prepared)
    values = {
        "given_name": clean_line(prepared.given_name, 60) or "there",
        "display_name": clean_line(prepared.display_name, 120),
        "username": prepared.username,
        "secret": prepared.secret,
        "expires": _expires(prepared.expires_at),
        "real_address": prepared.real_address or "",
    }
    text = templates.text.fill(values)
    html = templates.html.fill({field: str(escape(value)) for field, value in values.items()})
    return EmailContent(
        sender=current_app.config["MAIL_DEFAULT_SENDER"],
        to=prepared.to,
        subject=templates.subject or subject_for(prepared),
        text=text,
        html=html,
    )


# GSM 03.38 basic character set (one septet each); anything else forces UCS-2 (70 chars).
GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
SMS_SEGMENT = 160


def to_gsm7(text: str) -> str:
    """Transliterate to GSM-7: fold accents, drop what still does not fit, keep one line."""
    text = clean_line(text, 200)
    out = []
    for ch in text:
        if ch in GSM7:
            out.append(ch)
            continue
        folded = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
        out.append("".join(c for c in folded if c in GSM7))
    return re.sub(r"\s+", " ", "".join(out)).strip()


def sms_text(prepared: Prepared) -> str:
    """Write the SMS: a link or a short code, never a password (SECURITY.md F4)."""
    school = to_gsm7(prepared.school_name) or "School"
    name = to_gsm7(prepared.given_name)[:20]
    until = prepared.expires_at.strftime("%d %b")
    prefix = ""
    if prepared.real_address is not None:
        prefix = f"TEST for {name or 'recipient'} ({prepared.real_address[-4:]}): "
    if prepared.kind == "link":
        core, tail = f": set up your Keyslip account at {prepared.secret}", f" (until {until})"
    elif prepared.kind == "parent-code":
        who = f" for {name}" if name else ""
        base = current_app.config["BASE_URL"].rstrip("/")
        core = f": parent code{who} is {prepared.secret}. Use it at {base}"
        tail = f" by {until}"
    else:
        raise ValueError("temporary passwords are not sent by SMS")
    # Shorten the school name first, then drop the date, to stay within one segment.
    room = SMS_SEGMENT - len(prefix) - len(core) - len(tail)
    if room < 8:
        tail = ""
        room = SMS_SEGMENT - len(prefix) - len(core)
    school = school[: max(room, 8)].rstrip()
    return f"{prefix}{school}{core}{tail}"


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7 for ch in text)
