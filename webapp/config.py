"""One Config class. Every setting can be overridden by a FLASK_<NAME> environment variable."""

from __future__ import annotations

from datetime import timedelta

HTMX_VERSION = "2.0.8"


class Config:
    # "development" (make run), "production" or "testing".
    ENVIRONMENT = "development"
    # Generated once into instance/secret_key in development; required in production.
    SECRET_KEY: str | None = None
    # Canonical address used in every emailed or printed link; never the request's Host.
    BASE_URL = "http://127.0.0.1:5000"
    SCHOOL_DISTRICT_NAME = "Keyslip"
    # The district's clock, for the times pages and the CLI show (an IANA name).
    TIME_ZONE = "UTC"
    # The console's counts by role and state are taken again after this many seconds.
    CONSOLE_COUNTS_SECONDS = 60

    # None means instance/keyslip.db (SQLite in WAL mode).
    SQLALCHEMY_DATABASE_URI: str | None = None
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    REDIS_URL: str | None = None

    # Jobs: "inline" (tests), "thread" (make run) or "rq" (production, needs REDIS_URL).
    JOBS_BACKEND = "thread"
    JOBS_QUEUE = "keyslip"

    # argon2id; the floor is OWASP's m=19 MiB, t=2, p=1.
    ARGON2_TIME_COST = 2
    ARGON2_MEMORY_COST = 19 * 1024
    ARGON2_PARALLELISM = 1

    # Minimum chosen-password length by role (NIST SP 800-63B); young students by grade.
    PASSWORD_MIN_LENGTH = {"admin": 15, "staff": 15, "teacher": 15, "parent": 12, "student": 8}
    PASSWORD_MIN_LENGTH_YOUNG = 6
    YOUNG_STUDENT_GRADES = ["PK", "TK", "KG", "01", "02", "03"]
    # Grades whose students may get QR sign-in badges; none until a school turns them on.
    BADGE_GRADES: list[str] = []
    BADGE_RATE_LIMIT = "30 per minute"
    PASSWORD_MAX_LENGTH = 128
    TEMP_PASSWORD_DAYS = 14

    # Sign-in throttling: per-IP cap (Flask-Limiter) and progressive per-account delay.
    LOGIN_RATE_LIMIT = "30 per minute;300 per hour"
    # "Email me a new link" on a dead invite link, per client address.
    NEW_LINK_RATE_LIMIT = "5 per hour"
    # Parent codes typed wrong (registration and "Add a child"), per client address and
    # for the whole site; a right code is never counted (README "Family pages").
    PARENT_CODE_RATE_LIMIT = "10 per 10 minutes;100 per day"
    PARENT_CODE_GLOBAL_RATE_LIMIT = "300 per hour;2000 per day"
    # Forgot-password requests per client address; each account also gets at most
    # RESET_MESSAGES_PER_HOUR messages, whoever asks.
    FORGOT_PASSWORD_RATE_LIMIT = "10 per 10 minutes;50 per day"  # noqa: S105 (a limit)
    RESET_MESSAGES_PER_HOUR = 3
    # PIN recovery: wrong PINs per client address; PIN_FAILURES_PER_HOUR wrong PINs for one
    # account lock its PIN recovery for the rest of the hour.
    PIN_RECOVERY_RATE_LIMIT = "20 per hour"
    PIN_FAILURES_PER_HOUR = 5
    # Single sign-on: roles whose people sign in with the school's own accounts (also a
    # per-school setting), and what forgot-password tells them instead.
    SSO_ROLES: list[str] = []
    SSO_NOTICE = (
        "Your school signs you in with its own school account (single sign-on). Use your "
        "school's sign-in page, or ask the school office to reset that password."
    )
    LOGIN_DELAY_AFTER_FAILURES = 5
    LOGIN_DELAY_STEP_SECONDS = 60
    LOGIN_DELAY_MAX_SECONDS = 15 * 60
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = False

    # Server-side sessions: "sqlalchemy" (default) or "redis" (production).
    SESSION_BACKEND = "sqlalchemy"
    SESSION_COOKIE_NAME = "keyslip_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    SESSION_IDLE_MINUTES = 30
    SESSION_ABSOLUTE_HOURS = 12
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    # Sessions are saved when they change (seen_at moves every minute), not on every request.
    SESSION_REFRESH_EACH_REQUEST = False
    # No long-lived remember-me on shared classroom devices.
    REMEMBER_COOKIE_DURATION = timedelta(hours=0)

    # How many reverse proxies in front set X-Forwarded-For/-Proto (0: trust none).
    # Rate limits and audit rows use the client address, so set this behind a proxy.
    PROXY_COUNT = 0

    WTF_CSRF_TIME_LIMIT = None
    WTF_CSRF_SSL_STRICT = True
    MAX_CONTENT_LENGTH = 50 * 1024 * 1024

    # Mail: with no MAIL_SERVER in development, messages go to the /dev/outbox page.
    MAIL_SERVER: str | None = None
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    MAIL_DEFAULT_SENDER = "Keyslip <no-reply@keyslip.invalid>"
    # Seconds before an SMTP connect or reply is given up on (then retried with back-off).
    MAIL_TIMEOUT = 30
    # Messages one SMTP connection carries before it is reopened (None: no limit). A batch
    # keeps its connection from chunk to chunk; some providers cap messages per connection.
    MAIL_MAX_EMAILS: int | None = None
    # The relay's sending quota, e.g. "30 per minute; 10000 per day" (README "Relay quotas"):
    # batches pace themselves to it across every worker and wait for the next day when a
    # daily quota is spent. None: no pacing. Read at start-up; a malformed value stops it.
    MAIL_RATE_LIMIT: str | None = None

    # Credential lifetimes (each also a per-school setting, see webapp/services/settings.py).
    # Admin-issued set-password links; SECURITY.md caps invites at 7 days.
    INVITE_LINK_DAYS = 7
    # Self-service reset links (the forgot-password flow); OWASP recommends an hour or less.
    RESET_LINK_MINUTES = 60
    PARENT_CODE_DAYS = 90
    PARENT_CODE_MAX_USES = 5

    # Import other contacts as parents: roster contacts who are not parents or guardians
    # (siblings, cousins, family friends, emergency contacts, unknown relationships) get
    # parent accounts too. Off: each is left out and listed on the import's preview.
    IMPORT_OTHER_CONTACTS = False

    # Send credentials as soon as a roster import creates new students or parents.
    NOTIFY_NEW_STUDENTS = False
    NOTIFY_NEW_PARENTS = False
    # "email" or "sms": how automatic notifications travel (no address: needs printing).
    NOTIFY_CHANNEL = "email"
    # Ultranet-style catch-all address for people without an email (None: print instead).
    FALLBACK_EMAIL: str | None = None
    # Test mode: every email and SMS goes to these instead, naming the real recipient.
    TEST_MODE = False
    TEST_MODE_EMAIL: str | None = None
    TEST_MODE_PHONE: str | None = None

    # SMS: "console" (development: printed), "outbox" (tests: kept in memory) or "twilio".
    SMS_BACKEND = "console"
    TWILIO_ACCOUNT_SID: str | None = None
    TWILIO_AUTH_TOKEN: str | None = None
    # Either a sending number (E.164) or a Twilio messaging service.
    TWILIO_FROM_NUMBER: str | None = None
    TWILIO_MESSAGING_SERVICE_SID: str | None = None
    # Cost and harassment cap: messages to one number per 24 hours (test mode exempt).
    SMS_DAILY_CAP_PER_NUMBER = 3
    # The SMS provider's sending quota, like MAIL_RATE_LIMIT (Twilio long code: "1 per second").
    SMS_RATE_LIMIT: str | None = None

    # Credential batches: people per chunk (one claim each; the SMTP connection carries on).
    # People claimed at a time: their credentials are issued together (temporary passwords
    # hashed on every core), then each message is sent and its outcome committed.
    DELIVERY_CHUNK_SIZE = 100
    # Waits (seconds) between reconnects after a dropped connection or a 4xx, within one run.
    DELIVERY_RETRY_DELAYS = [2, 10, 30]
    # A delivery refused for now (4xx) this many times is marked failed.
    DELIVERY_MAX_ATTEMPTS = 5
    # When the relay asks to slow down, the run waits this long, doubling up to the maximum.
    DELIVERY_THROTTLE_FIRST_WAIT = 1.0
    DELIVERY_THROTTLE_MAX_WAIT = 60.0
    # A run waits for a relay quota inside the job up to this long; longer (a daily quota
    # spent), the batch pauses and the housekeeping job continues it when the quota allows.
    DELIVERY_QUOTA_MAX_WAIT = 300
    # A run proves it is alive every BATCH_HEARTBEAT_SECONDS; one silent for
    # BATCH_LEASE_SECONDS is taken to have died, and a resume takes its batch over.
    BATCH_HEARTBEAT_SECONDS = 5
    BATCH_LEASE_SECONDS = 45

    # Printing (docs/printing.md). Paper for slips and letters: "A4" or "Letter" (per school).
    PAPER_SIZE = "A4"
    # A print of more people than this runs as a job; the PDF waits encrypted for download.
    PRINT_JOB_THRESHOLD = 300
    # Pages per chunk when a large document is rendered in parallel processes.
    PRINT_CHUNK_PAGES = 10
    # A finished PDF nobody downloaded is deleted after this many hours.
    PRINT_PENDING_HOURS = 24

    # htmx from the CDN, pinned with SRI; static/vendor holds the same file as a fallback.
    HTMX_USE_CDN = True
    HTMX_CDN_URL = f"https://cdn.jsdelivr.net/npm/htmx.org@{HTMX_VERSION}/dist/htmx.min.js"
    HTMX_SRI = "sha384-/TgkGk7p307TH7EXJDuUlgG3Ce1UVolAOFopFekQkkXihi5u/6OCvVKyz1W+idaz"
    HTMX_VENDOR_FILE = f"vendor/htmx-{HTMX_VERSION}.min.js"

    DEMO_SEED = 2026

    # Roster imports (README "Roster sync"). The source names the SIS whose ids match
    # people across imports; spreadsheets get a per-school source ("csv:<school id>").
    ROSTER_SOURCE = "sis"
    ROSTER_DEFAULT_REGION = "US"
    # A run deactivating more than this share of a school's people needs a confirmation.
    ROSTER_DEACTIVATION_THRESHOLD = 0.10
    # Encrypted uploads: None means instance/roster-uploads; deleted after apply or this age.
    ROSTER_UPLOAD_DIR: str | None = None
    ROSTER_UPLOAD_RETENTION_HOURS = 24
    # Drop folders for scheduled sync: <dir>/<school id>/ or <dir>/district/.
    ROSTER_DROP_DIR: str | None = None
    # Files younger than this may still be arriving over SFTP; they wait for the next sync.
    ROSTER_DROP_SETTLE_SECONDS = 60
    # Who scheduled syncs act as (an admin username); None: the first district-wide admin.
    ROSTER_SYNC_ACTOR: str | None = None
    # The thread backend runs webapp/housekeeping.py (sync, resumes, retention) this often;
    # 0 turns it off (then run `flask housekeeping run` from cron).
    HOUSEKEEPING_INTERVAL_MINUTES = 15
    # Retention: dead set-password links and parent codes are deleted this many days after
    # they were used, replaced or expired (until then a page can say why one stopped working).
    RETENTION_TOKEN_DAYS = 30
    RETENTION_CODE_DAYS = 30
