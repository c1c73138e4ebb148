"""The process entry point (wsgi.py), as gunicorn and every `flask` command start the app."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def started_process(tmp_path: Path, code: str) -> str:
    """Run code after `import wsgi` in a new Python and return what it printed."""
    env = {**os.environ, "KEYSLIP_INSTANCE_PATH": str(tmp_path), "FLASK_SECRET_KEY": "test"}
    result = subprocess.run(
        [sys.executable, "-c", f"import gc, sys, wsgi; {code}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_start_up_leaves_out_what_only_the_demo_and_redis_sessions_need(tmp_path):
    # Every `flask` command pays for what start-up imports, a whole-district import too.
    loaded = started_process(tmp_path, "print(sorted({'faker', 'redis'} & set(sys.modules)))")
    assert loaded == "[]"


def test_what_start_up_made_is_frozen_so_later_collections_skip_it(tmp_path):
    assert int(started_process(tmp_path, "print(gc.get_freeze_count())")) > 10_000
