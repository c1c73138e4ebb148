"""No set-password token reaches an access log: gunicorn's nor the development server's."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from webapp.web.access_log import redact

TOKEN = "Zm9vYmFyLXNlY3JldC10b2tlbi0xMjM0NTY3ODkwYWJjZGVm"
ROOT = Path(__file__).resolve().parents[2]


def test_redact_hides_the_token_and_keeps_the_rest():
    line = f'"GET /set-password/{TOKEN}?x=1 HTTP/1.1" 302 -'
    assert redact(line) == '"GET /set-password/[redacted]?x=1 HTTP/1.1" 302 -'
    assert redact("GET /admin/imports/3 HTTP/1.1") == "GET /admin/imports/3 HTTP/1.1"


def test_development_server_request_log_has_no_token(app, caplog):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            url = f"http://127.0.0.1:{server.server_port}/set-password/{TOKEN}"
            try:
                urllib.request.urlopen(url, timeout=10)  # noqa: S310 (loopback)
            except OSError:
                pass  # the page's answer does not matter, only the log line
            time.sleep(0.2)
    finally:
        server.shutdown()
        thread.join(timeout=5)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/set-password/[redacted]" in logged
    assert TOKEN not in logged


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_gunicorn_access_log_has_no_token(database_template, tmp_path):
    log = tmp_path / "access.log"
    port = _free_port()
    env = {
        **os.environ,
        "FLASK_SECRET_KEY": "test-secret-key-not-for-production",
        "FLASK_ENVIRONMENT": "testing",
        "FLASK_SQLALCHEMY_DATABASE_URI": os.environ.get("TEST_DATABASE_URL")
        or f"sqlite:///{database_template}",
        "KEYSLIP_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", "python:webapp.gunicorn_conf"]
    process = subprocess.Popen(  # noqa: S603 (our own server on loopback)
        [
            *gunicorn,
            "--workers",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
            "--access-logfile",
            str(log),
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(  # noqa: S310 (loopback)
                    f"http://127.0.0.1:{port}/set-password/{TOKEN}", timeout=5
                )
                break
            except urllib.error.HTTPError:
                break  # answered: the line is logged
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("gunicorn did not start: " + process.stderr.read1().decode())
        for _ in range(50):
            if log.exists() and log.read_text():
                break
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=10)
    text = log.read_text()
    assert "/set-password/[redacted]" in text and TOKEN not in text
