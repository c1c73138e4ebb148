"""People: users, their schools, classes, enrollments and guardian links."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.base import UTCDateTime, new_epoch, utcnow
from webapp.models.school import School


class Role(enum.StrEnum):
    ADMIN = "admin"
    STAFF = "staff"
    TEACHER = "teacher"
    STUDENT = "student"
    PARENT = "parent"


class AccountState(enum.StrEnum):
    NOT_SENT = "not_sent"
    INVITED = "invited"
    ACTIVE = "active"
    DEACTIVATED = "deactivated"


STAFF_ROLES = frozenset({Role.ADMIN, Role.STAFF, Role.TEACHER})

user_schools = Table(
    "user_schools",
    db.metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("school_id", Integer, ForeignKey("schools.id", ondelete="CASCADE"), primary_key=True),
)


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("source", "sourced_id"),
        CheckConstraint(
            "role IN ('admin', 'staff', 'teacher', 'student', 'parent')", name="role_known"
        ),
        # Partial: lookups by address use it, and the planner never takes it for "no email".
        Index(
            "ix_users_email_lower",
            "email",
            sqlite_where=text("email IS NOT NULL"),
            postgresql_where=text("email IS NOT NULL"),
        ),
        Index("ix_users_family_given", "family_name", "given_name"),
        # The console's role and grade filters: in name order, so a page of 50 stops early,
        # and holding what the other filters check, so a count reads the index alone (the
        # text search index is in search.py).
        Index(
            "ix_users_role_name",
            "role",
            "family_name",
            "given_name",
            "deactivated_at",
            "activated_at",
            "invited_at",
            "email",
            "phone",
        ),  # fmt: skip
        Index("ix_users_grade", "grade", "family_name", "given_name", "last_login_at", "role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(40), default="local")
    sourced_id: Mapped[str | None] = mapped_column(String(255))
    username: Mapped[str] = mapped_column(String(150), unique=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    # District-wide admins see every school; other admins only those in `schools`.
    district_wide: Mapped[bool] = mapped_column(Boolean, default=False)
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20))
    grade: Mapped[str | None] = mapped_column(String(10))
    # A student number or UK UPN: an identifier only, never a username, never shown to parents.
    student_number: Mapped[str | None] = mapped_column(String(40))

    password_hash: Mapped[str | None] = mapped_column(String(255))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    temp_password_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Rotated on every credential event; part of every token check and of the session id.
    credential_epoch: Mapped[str] = mapped_column(String(32), default=new_epoch)

    failed_login_count: Mapped[int] = mapped_column(Integer, default=0)
    login_delay_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    invited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    schools: Mapped[list[School]] = relationship(secondary=user_schools, lazy="selectin")

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username!r} {self.role}>"

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()

    @property
    def state(self) -> AccountState:
        if self.deactivated_at is not None:
            return AccountState.DEACTIVATED
        if self.activated_at is not None:
            return AccountState.ACTIVE
        if self.invited_at is not None:
            return AccountState.INVITED
        return AccountState.NOT_SENT

    @property
    def is_active(self) -> bool:  # Flask-Login: deactivated people cannot hold a session.
        return self.deactivated_at is None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    def get_id(self) -> str:
        # The epoch makes every session die when credentials rotate.
        return f"{self.id}:{self.credential_epoch}"

    def rotate_epoch(self) -> None:
        self.credential_epoch = new_epoch()


class Class(db.Model):
    __tablename__ = "classes"
    __table_args__ = (UniqueConstraint("source", "sourced_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(40), default="local")
    sourced_id: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(200))
    class_code: Mapped[str | None] = mapped_column(String(100))
    grades: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    school: Mapped[School] = relationship()


class Enrollment(db.Model):
    __tablename__ = "enrollments"
    __table_args__ = (
        UniqueConstraint("class_id", "user_id"),
        CheckConstraint("role IN ('teacher', 'student')", name="role_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    primary: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GuardianLink(db.Model):
    __tablename__ = "guardian_links"
    __table_args__ = (
        UniqueConstraint("parent_id", "student_id"),
        CheckConstraint("origin IN ('roster', 'parent_code', 'admin')", name="origin_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    origin: Mapped[str] = mapped_column(String(20))
    # The relationship word a roster gave (Mother, Grandfather, Guardian), kept as written.
    relation: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
