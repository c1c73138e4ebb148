"""Helpers shared by the bench scripts: a throwaway app, timing, and the report line."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask  # noqa: E402

_failures: list[str] = []


def make_app(**overrides) -> Flask:
    """A migrated app on a temporary SQLite file, with production-strength hashing."""
    from flask_migrate import upgrade

    from webapp import create_app

    folder = Path(tempfile.mkdtemp(prefix="keyslip-bench-"))
    os.environ["KEYSLIP_INSTANCE_PATH"] = str(folder)
    settings = {
        "ENVIRONMENT": "testing",
        "SECRET_KEY": "bench",
        "JOBS_BACKEND": "inline",
        "HTMX_USE_CDN": False,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'bench.db'}",
        "RATELIMIT_ENABLED": False,
        **overrides,
    }
    app = create_app(settings)
    with app.app_context():
        upgrade()
    return app


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18]


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def report(name: str, value: float, target: float, *, higher_is_better: bool = False,
           unit: str = "x") -> None:  # fmt: skip
    """Print one figure as `name: value (target ...)` and remember a miss."""
    ok = value >= target if higher_is_better else value <= target
    sign = ">=" if higher_is_better else "<="
    print(f"{name}: {value:.2f}{unit} (target {sign} {target:g}{unit}){'' if ok else '  MISSED'}")
    if not ok:
        _failures.append(name)


def finish() -> None:
    sys.exit(1 if _failures else 0)
