"""The benches' own import paths still run: the suite runs them small, `make bench` runs them big.

A bench drives the same services as the CLI; a change to those services (the import run's
state machine, say) must not leave `make bench` broken until someone next runs it.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest

from tests.roster.bundles import district_bundle

BENCH = Path(__file__).resolve().parents[1] / "bench"
SMALL = {"students": 40, "parents": 20, "teachers": 4, "classes": 4}


@pytest.fixture
def import_bench(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCH))
    import common
    import import_bench

    folders = (tmp_path / f"bench-{n}" for n in itertools.count())

    def mkdtemp(prefix: str = "") -> str:
        folder = next(folders)
        folder.mkdir()
        return str(folder)

    monkeypatch.setattr(common.tempfile, "mkdtemp", mkdtemp)
    monkeypatch.setenv("KEYSLIP_INSTANCE_PATH", str(tmp_path / "instance"))
    yield import_bench
    for name in ("import_bench", "common"):
        sys.modules.pop(name, None)


def test_the_import_bench_paths_apply_then_skip_a_small_bundle(import_bench):
    files = district_bundle(**SMALL)
    rows = import_bench._people_rows(files)
    assert import_bench.raw_baseline(rows, import_bench._keyslip_ddl()) > 0
    _, counts = import_bench.keyslip_import(import_bench.fresh_app(), files)
    assert counts["new"] == 64
    app = import_bench.fresh_app()
    data = import_bench.zipped(files)
    assert import_bench.service_import(app, data)[1] == "applied"
    assert import_bench.service_import(app, data)[1] == "skipped"


def test_the_delivery_bench_paths_send_a_small_batch_and_its_baseline(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.setenv("KEYSLIP_INSTANCE_PATH", str(tmp_path / "instance"))
    import delivery_bench

    try:
        port = delivery_bench.free_port()
        sink = delivery_bench.start_sink(port)
        try:
            app = delivery_bench.build_app(tmp_path, port)
            admin_id, cohorts = delivery_bench.seed(app, 5, 2)
            rendered = delivery_bench.rendered_messages(app, 5)
            assert delivery_bench.flask_mail_alone(app, rendered) > 0
            job_seconds, _ = delivery_bench.batch_job(app, admin_id, cohorts[0])
            assert job_seconds > 0
            elapsed, one_hash = delivery_bench.temp_passwords(app, admin_id, cohorts[1])
            assert elapsed > 0 and one_hash > 0
        finally:
            sink.terminate()
            sink.wait(timeout=10)
    finally:
        sys.modules.pop("delivery_bench", None)


def test_the_console_bench_seeds_signs_in_and_measures(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.setenv("KEYSLIP_INSTANCE_PATH", str(tmp_path / "instance"))
    import common
    import console_bench

    monkeypatch.setattr(common.tempfile, "mkdtemp", lambda prefix="": str(tmp_path))
    monkeypatch.setattr(console_bench, "REPEAT", 2)
    monkeypatch.setattr(console_bench, "ROUNDS", 1)
    try:
        app = console_bench.make_app(RATELIMIT_ENABLED=False)
        console_bench.seed(app, 40)
        client = console_bench.signed_in(app)
        from flask import Flask

        bare = Flask("bare")
        bare.add_url_rule("/", "bare", lambda: "ok")
        assert all(t > 0 for t in console_bench.measure(client, bare.test_client()))
    finally:
        for name in ("console_bench", "common"):
            sys.modules.pop(name, None)
