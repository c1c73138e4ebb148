"""Credential delivery: issuing links, temporary passwords and codes, and sending them.

- policy.py          who gets what, why someone is skipped, how an outcome becomes a status
- batches.py         the cohort record: send_credentials, retry_failed, resume, resume_due
- jobs.py            the batch job: claim a chunk, then send and record one message at a time
- lease.py           one run per batch: a short lease kept alive by a heartbeat
- quota.py           relay quotas (MAIL_RATE_LIMIT, SMS_RATE_LIMIT) shared by every worker
- progress.py        counts, pace and estimated finish, for the progress partial and the CLI
- messages.py        what each message says (Jinja templates/email/*.txt|html, SMS text)
- email.py, sms.py   channels: Flask-Mail (one connection per run), SMS providers
- links.py           set-password links (hash stored, epoch-bound, single use)
- temp_passwords.py  temporary passwords (word-based for young students), hashed in parallel
- codes.py           parent codes and student PINs (encrypted for display, keyed hash lookup)
- devoutbox.py       development mail kept on disk for /dev/outbox
- views.py, cli.py   the set-password page and dev outbox; `flask credentials ...`

The blueprints and the CLI are registered in create_app with the others; the job registers
itself when jobs.py is imported (batches.py imports it).
"""
