"""SQLAlchemy models, one module per domain."""

from webapp.models.audit import AuditEvent, SessionRecord
from webapp.models.base import utcnow
from webapp.models.credentials import BadgeToken, ParentCode, SetPasswordToken, StudentPin
from webapp.models.delivery import (
    BatchStatus,
    Channel,
    CredentialBatch,
    Delivery,
    DeliveryStatus,
    Kind,
    Route,
)
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
    "BatchStatus",
    "Channel",
    "Class",
    "CredentialBatch",
    "Delivery",
    "DeliveryStatus",
    "Enrollment",
    "GuardianLink",
    "ImportCounts",
    "ImportRun",
    "ImportRunStateError",
    "ImportRunStatus",
    "ImportStage",
    "Kind",
    "BadgeToken",
    "ParentCode",
    "RelaySend",
    "Role",
    "Route",
    "School",
    "SessionRecord",
    "SetPasswordToken",
    "Setting",
    "StudentPin",
    "User",
    "user_schools",
    "utcnow",
]
