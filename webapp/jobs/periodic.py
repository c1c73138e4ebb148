"""Queue the housekeeping job on a timer when the in-process thread backend is in use.

With RQ in production, run the same work from cron instead: `flask housekeeping run`
every few minutes (webapp/housekeeping.py).
"""

from __future__ import annotations

import threading

from flask import Flask

HOUSEKEEPING_JOB = "webapp.housekeeping.housekeeping"


def start(app: Flask) -> threading.Thread | None:
    """Start a daemon timer that queues the housekeeping job every few minutes."""
    minutes = app.config.get("HOUSEKEEPING_INTERVAL_MINUTES") or 0
    if app.config["JOBS_BACKEND"] != "thread" or app.testing or minutes <= 0:
        return None
    backend = app.extensions["keyslip_jobs"]
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(minutes * 60):
            backend.submit(HOUSEKEEPING_JOB, ())

    thread = threading.Thread(target=tick, name="periodic-jobs", daemon=True)
    thread.start()
    app.extensions["keyslip_periodic_stop"] = stop
    return thread
