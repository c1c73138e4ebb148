"""Background jobs, queued during a transaction and dispatched only after it commits.

A job is a registered function that takes ids and other plain values, never objects or
secrets. `enqueue()` parks the job on the database session; the commit hands it to the
backend chosen by JOBS_BACKEND (inline, thread or rq) and a rollback drops it.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from webapp.extensions import db
from webapp.services.audit import Origin, current_origin

log = logging.getLogger(__name__)
# Who queued a job: the (ip, request id) of the request, for the job's audit rows.
QueuedBy = tuple[str | None, str | None] | None

REGISTRY: dict[str, Callable[..., Any]] = {}
_PENDING = "keyslip_pending_jobs"
_PLAIN = (int, str, bool, float, type(None))


def job(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Register a function as a job under its dotted name."""
    REGISTRY[f"{fn.__module__}.{fn.__name__}"] = fn
    return fn


def enqueue(fn: Callable[..., Any], *args: Any) -> None:
    """Queue a job to run after the current transaction commits."""
    name = f"{fn.__module__}.{fn.__name__}"
    if REGISTRY.get(name) is not fn:
        raise ValueError(f"{name} is not a registered job")
    if not all(isinstance(arg, _PLAIN) for arg in args):
        raise TypeError("jobs take ids and plain values only")
    session = db.session()
    if session.get_transaction() is None:
        # Begin now, so a rollback before any query still fires and drops the job.
        session.begin()
    # The job's audit rows carry the IP and request id of the request that queued it.
    origin = current_origin.get()
    session.info.setdefault(_PENDING, []).append((name, args, (origin.ip, origin.request_id)))


def pending() -> list[tuple[str, tuple[Any, ...]]]:
    return [(name, args) for name, args, _ in db.session.info.get(_PENDING, [])]


@event.listens_for(Session, "after_commit")
def _dispatch_after_commit(session: Session) -> None:
    # SQLAlchemy also fires after_commit when a SAVEPOINT is released; only the outermost
    # commit makes the data visible to the job.
    if session.in_nested_transaction():
        return
    jobs = session.info.pop(_PENDING, [])
    if jobs:
        backend: Backend = current_app.extensions["keyslip_jobs"]
        for name, args, origin in jobs:
            backend.submit(name, args, origin)


@event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def run_job(
    app: Flask,
    name: str,
    args: tuple[Any, ...],
    job_id: str | None = None,
    origin: QueuedBy = None,
) -> Any:
    """Run one job in a fresh app context (and so a fresh database session).

    origin is the (ip, request id) of the request that queued it, for its audit rows.
    """
    ip, request_id = origin or (None, None)
    token = current_origin.set(Origin(ip=ip, request_id=request_id or job_id or str(uuid.uuid4())))
    try:
        with app.app_context():
            return REGISTRY[name](*args)
    finally:
        current_origin.reset(token)


class Backend(Protocol):
    def submit(self, name: str, args: tuple[Any, ...], origin: QueuedBy = None) -> None: ...


class InlineBackend:
    """Run each job at once, in the committing thread (tests)."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def submit(self, name: str, args: tuple[Any, ...], origin: QueuedBy = None) -> None:
        run_job(self.app, name, args, origin=origin)


class ThreadBackend:
    """Run jobs one at a time on a daemon thread in this process (make run)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.queue: queue.Queue[tuple[str, tuple[Any, ...], QueuedBy]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, name: str, args: tuple[Any, ...], origin: QueuedBy = None) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="jobs", daemon=True)
                self._thread.start()
        self.queue.put((name, args, origin))

    def _work(self) -> None:
        while True:
            name, args, origin = self.queue.get()
            try:
                run_job(self.app, name, args, origin=origin)
            except Exception:
                log.exception("job %s failed", name)
            finally:
                self.queue.task_done()

    def join(self) -> None:
        self.queue.join()


class RQBackend:
    """Hand jobs to RQ workers over Redis (production)."""

    def __init__(self, app: Flask) -> None:
        from redis import Redis
        from rq import Queue

        url = app.config["REDIS_URL"]
        if not url:
            raise RuntimeError("JOBS_BACKEND=rq needs FLASK_REDIS_URL")
        self.queue = Queue(app.config["JOBS_QUEUE"], connection=Redis.from_url(url))

    def submit(self, name: str, args: tuple[Any, ...], origin: QueuedBy = None) -> None:
        from rq import Retry

        self.queue.enqueue(
            "webapp.jobs.worker.perform",
            name,
            *args,
            retry=Retry(max=3, interval=[5, 30, 120]),
            meta={"queued_by": list(origin) if origin else None},
        )


BACKENDS = {"inline": InlineBackend, "thread": ThreadBackend, "rq": RQBackend}


def init_app(app: Flask) -> None:
    kind = app.config["JOBS_BACKEND"]
    if kind not in BACKENDS:
        raise RuntimeError(f"JOBS_BACKEND must be one of {', '.join(BACKENDS)}, not {kind!r}")
    app.extensions["keyslip_jobs"] = BACKENDS[kind](app)
