"""Run housekeeping jobs on a timer when the in-process thread backend is in use.

With RQ in production, run the same work from cron instead: `flask roster sync` (and
`flask roster purge-uploads`) every few minutes.
"""

from __future__ import annotations

import threading

from flask import Flask

SYNC_JOB = "webapp.imports.sync.sync_and_purge"


def start(app: Flask) -> threading.Thread | None:
    """Start a daemon timer that queues the roster sync job every few minutes."""
    minutes = app.config.get("ROSTER_SYNC_INTERVAL_MINUTES") or 0
    if app.config["JOBS_BACKEND"] != "thread" or app.testing or minutes <= 0:
        return None
    backend = app.extensions["keyslip_jobs"]
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(minutes * 60):
            backend.submit(SYNC_JOB, ())

    thread = threading.Thread(target=tick, name="periodic-jobs", daemon=True)
    thread.start()
    app.extensions["keyslip_periodic_stop"] = stop
    return thread
