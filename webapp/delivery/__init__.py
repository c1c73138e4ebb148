"""Credential delivery: issuing links, temporary passwords and codes, and sending them.

- links.py           set-password links (hash stored, epoch-bound, single use)
- temp_passwords.py  temporary passwords (word-based for young students), hashed in parallel
- codes.py           parent codes and student PINs (encrypted for display, keyed hash lookup)
- email.py, sms.py   channels; devoutbox.py keeps development mail on disk for /dev/outbox
- batches.py         the cohort record: send_credentials, retry_failed, batch_progress
- jobs.py            the batch job: chunks, claims, resume after a crash
- steps.py           small steps of bookkeeping, run while the SMTP server answers
- quota.py           relay quotas (MAIL_RATE_LIMIT, SMS_RATE_LIMIT) shared by every worker
- views.py           the set-password page and the development outbox
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Check the relay quotas; register the set-password page, dev outbox, jobs and CLI."""
    from webapp.delivery import jobs  # noqa: F401  (registers process_batch for every backend)
    from webapp.delivery.cli import credentials_cli
    from webapp.delivery.quota import init_app as check_quotas
    from webapp.delivery.views import bp, dev_bp

    check_quotas(app)
    app.register_blueprint(bp)
    # The outbox shows live links: it exists only in development without a mail server.
    if app.config["ENVIRONMENT"] == "development" and not app.config.get("MAIL_SERVER"):
        app.register_blueprint(dev_bp)
    app.cli.add_command(credentials_cli)
