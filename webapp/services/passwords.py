"""Password hashing (argon2id) and the chosen-password policy (NIST SP 800-63B)."""

from __future__ import annotations

import gzip
import unicodedata
from functools import cache
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

from webapp.models import Role, User
from webapp.services.errors import PolicyError


@cache
def _hasher(time_cost: int, memory_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(
        time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID
    )


def hasher() -> PasswordHasher:
    cfg = current_app.config
    return _hasher(cfg["ARGON2_TIME_COST"], cfg["ARGON2_MEMORY_COST"], cfg["ARGON2_PARALLELISM"])


def normalise(password: str) -> str:
    """NFKC-normalise, as NIST asks, so the same password typed anywhere hashes the same."""
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    return hasher().hash(normalise(password))


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password; with no hash, burn the same time so timing does not tell."""
    if not password_hash:
        dummy_verify()
        return False
    try:
        return hasher().verify(password_hash, normalise(password))
    except (VerificationError, InvalidHashError):
        return False


def dummy_verify() -> None:
    """Spend one hash's worth of time for a user who does not exist."""
    try:
        hasher().verify(_dummy_hash(*_params()), "not the password")
    except VerificationError:
        pass


def _params() -> tuple[int, int, int]:
    cfg = current_app.config
    return cfg["ARGON2_TIME_COST"], cfg["ARGON2_MEMORY_COST"], cfg["ARGON2_PARALLELISM"]


@cache
def _dummy_hash(time_cost: int, memory_cost: int, parallelism: int) -> str:
    return _hasher(time_cost, memory_cost, parallelism).hash("keyslip dummy password")


@cache
def common_passwords() -> frozenset[str]:
    """The 20,000 most common passwords (Django's list), lower-cased."""
    data = resources.files("webapp.data").joinpath("common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode().split())


def is_young_student(user: User) -> bool:
    grades = current_app.config["YOUNG_STUDENT_GRADES"]
    return user.role == Role.STUDENT and user.grade in grades


def minimum_length(user: User) -> int:
    if is_young_student(user):
        return current_app.config["PASSWORD_MIN_LENGTH_YOUNG"]
    return current_app.config["PASSWORD_MIN_LENGTH"][user.role]


def _is_monotonous(text: str) -> bool:
    """True for one repeated character or a straight run like 12345678 or abcdefgh."""
    if len(set(text)) == 1:
        return True
    steps = {ord(b) - ord(a) for a, b in zip(text, text[1:], strict=False)}
    return steps in ({1}, {-1})


def _letters(text: str | None) -> str:
    return "".join(ch for ch in (text or "").casefold() if ch.isalpha())


def _mostly_context(password: str, context: list[str | None], minimum: int) -> bool:
    """Tell whether the password is built from context words (names, username, school).

    Compared as letters only, so "Probe School 2026" is "probeschool": each context word of
    four letters or more is cut out wherever it stands, and a password with fewer than the
    minimum length of letters left over is built from them.
    """
    letters = _letters(password)
    left = letters
    for word in sorted({_letters(w) for w in context}, key=len, reverse=True):
        if len(word) >= 4:
            left = left.replace(word, "")
    return left != letters and len(left) < minimum


def check_policy(password: str, user: User, *, extra_words: tuple[str, ...] = ()) -> None:
    """Raise PolicyError listing every rule the chosen password breaks."""
    password = normalise(password)
    problems: list[str] = []
    minimum = minimum_length(user)
    maximum = current_app.config["PASSWORD_MAX_LENGTH"]
    if len(password) < minimum:
        problems.append(f"Use at least {minimum} characters (this one has {len(password)}).")
    if len(password) > maximum:
        problems.append(f"Use at most {maximum} characters.")
    lowered = password.lower()
    if lowered in common_passwords() or _is_monotonous(lowered):
        problems.append("This password is too common or too easy to guess. Try a few words.")
    context = [user.username, user.given_name, user.family_name, "keyslip"]
    context += [school.name for school in user.schools] + list(extra_words)
    if _mostly_context(password, context, minimum):
        problems.append("Do not build your password from your name, username or school.")
    if problems:
        raise PolicyError(problems)
