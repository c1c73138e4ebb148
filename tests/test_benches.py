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
