"""The PDF bench's paths still run: the suite runs them small, `make bench` runs them big."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def pdf_bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import pdf_bench

    yield pdf_bench
    for name in ("pdf_bench", "common"):
        sys.modules.pop(name, None)


def test_the_pdf_bench_renders_both_ways(app, pdf_bench):
    from webapp.printing.slips import Layout, SlipOptions

    app.config["PRINT_CHUNK_PAGES"] = 1
    made = pdf_bench.make_slips(20)
    options = SlipOptions(Layout.SAVER, 10)
    assert pdf_bench.one_process(app, made, options) > 0
    assert pdf_bench.parallel(app, made, options) > 0
    assert app.config["PRINT_CHUNK_PAGES"] == 1


def test_the_pdf_bench_renders_slips_with_qr_badges(app, pdf_bench):
    from webapp.printing.slips import Layout, SlipOptions

    with app.app_context():
        made = pdf_bench.make_slips(10, badges=True)
    assert all(slip.badge.startswith("data:image/png;base64,") for slip in made)
    assert pdf_bench.parallel(app, made, SlipOptions(Layout.SAVER, 10)) > 0
