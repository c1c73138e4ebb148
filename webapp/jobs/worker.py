"""The entry point RQ workers call: build the app once per worker, then run jobs by name."""

from __future__ import annotations

from typing import Any

from flask import Flask

_app: Flask | None = None


def use_app(app: Flask) -> None:
    global _app
    _app = app


def perform(name: str, *args: Any) -> Any:
    """Run a registered job in the worker's app."""
    global _app
    if _app is None:
        from webapp import create_app

        _app = create_app()
    from rq import get_current_job

    from webapp.jobs import run_job

    current = get_current_job()
    if current is None:
        return run_job(_app, name, args)
    queued_by = current.meta.get("queued_by")
    return run_job(
        _app, name, args, job_id=current.id, origin=tuple(queued_by) if queued_by else None
    )
