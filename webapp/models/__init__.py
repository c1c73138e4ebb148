"""SQLAlchemy models, one module per domain."""

from webapp.models.audit import AuditEvent, SessionRecord
from webapp.models.base import utcnow
from webapp.models.credentials import ParentCode, SetPasswordToken, StudentPin
from webapp.models.delivery import CredentialBatch, Delivery
from webapp.models.imports import (
    ImportCounts,
    ImportRun,
    ImportRunStateError,
    ImportRunStatus,
    ImportStage,
)
from webapp.models.relay import RelaySend
from webapp.models.school import School, Setting
from webapp.models.user import (
    STAFF_ROLES,
    AccountState,
    Class,
    Enrollment,
    GuardianLink,
    Role,
    User,
    user_schools,
)

__all__ = [
    "STAFF_ROLES",
    "AccountState",
    "AuditEvent",
    "Class",
    "CredentialBatch",
    "Delivery",
    "Enrollment",
    "GuardianLink",
    "ImportCounts",
    "ImportRun",
    "ImportRunStateError",
    "ImportRunStatus",
    "ImportStage",
    "ParentCode",
    "RelaySend",
    "Role",
    "School",
    "SessionRecord",
    "SetPasswordToken",
    "Setting",
    "StudentPin",
    "User",
    "user_schools",
    "utcnow",
]
