"""What each credential message says, by email (text + HTML) and by SMS.

Each email is rendered from a Jinja pair, templates/email/<kind>.txt and .html, into a
Flask-Mail Message. Roster text (names, school names) reaches three places with different
rules: HTML bodies (Jinja autoescape), plain-text bodies (no markup to escape, but control
characters stripped) and headers (control characters, CR and LF removed, so no header
injection; Flask-Mail refuses a message whose headers still carry a line break). SMS bodies are
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

# Message kinds, one pair of templates each in templates/email/<kind>.txt and .html.
EMAIL_TEMPLATES = {
    "link": "set_password_link",
    "reset-link": "reset_password_link",
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


@lru_cache(maxsize=64)
def _expires(expires_at: datetime) -> str:
    # A batch's credentials mostly share one expiry: format each distinct one once.
    return expires_at.strftime("%d %B %Y, %H:%M UTC")


def subject_for(prepared: Prepared) -> str:
    school = clean_line(prepared.school_name, 60) or "Your school"
    subjects = {
        "link": f"{school}: set up your Keyslip account",
        "reset-link": f"{school}: reset your Keyslip password",
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
        "expires": _expires(prepared.expires_at),
        "sign_in_url": f"{base}/sign-in",
        "base_url": base,
        "real_address": prepared.real_address,
    }


def email_message(prepared: Prepared) -> Message:
    """Render one delivery's email from its Jinja pair (.txt, and .html autoescaped)."""
    context = _context(prepared)
    name = EMAIL_TEMPLATES[prepared.kind]
    env = current_app.jinja_env
    return Message(
        subject=subject_for(prepared),
        recipients=[prepared.to],
        body=env.get_template(f"email/{name}.txt").render(context),
        html=env.get_template(f"email/{name}.html").render(context),
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
