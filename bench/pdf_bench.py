"""Slip rendering budget (DESIGN.md), measured against a baseline in the same run.

2,000 paper-saver slips (10 a page): the print flow's render (chunks of whole pages in
parallel worker processes on every core, merged with pypdf) against one WeasyPrint process
rendering the same slips as one HTML document, alternated, best of three rounds each;
then the same with a QR sign-in badge (a small segno PNG) on every slip.
Target: wall time <= 0.6x, for each.

Prints one line per figure, `name: value (target ...)`, and exits 1 if a figure misses.
Run: python bench/pdf_bench.py [--slips 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime, timedelta

from common import finish, make_app, report

TARGET = 0.6


def make_slips(count: int, *, badges: bool = False) -> list:
    import secrets

    from webapp.printing import slips
    from webapp.printing.badges import qr_png

    expires = datetime.now(UTC) + timedelta(days=14)
    return [
        slips.make_slip(
            "Maple Grove Elementary",
            f"Pupil{n} Family{n}",
            f"pupil{n}",
            f"k7mq-x3rt-{n:04d}",
            expires,
            qr_png(f"https://keyslip.bench/badge/{secrets.token_urlsafe(32)}") if badges else None,
        )
        for n in range(count)
    ]


def one_process(app, made: list, options) -> float:
    """Render every slip as one HTML document in this process; return the seconds."""
    from webapp.printing import render, slips

    with app.test_request_context():
        chunk_pages = app.config["PRINT_CHUNK_PAGES"]
        app.config["PRINT_CHUNK_PAGES"] = 10**6  # one chunk: the whole document
        (html,) = slips.slip_chunks(made, options)
        app.config["PRINT_CHUNK_PAGES"] = chunk_pages
        start = time.perf_counter()
        render.render_html(html, app.static_folder)
        return time.perf_counter() - start


def parallel(app, made: list, options) -> float:
    """Render the same slips the way the print flow does; return the seconds."""
    from webapp.printing import slips

    with app.test_request_context():
        start = time.perf_counter()
        slips.render_slips(made, options)
        return time.perf_counter() - start


def warm_up(app) -> None:
    """Load fonts and start the fork server, so neither side pays first-use costs."""
    from webapp.printing import slips

    options = slips.SlipOptions(slips.Layout.SAVER, 10)
    chunk_pages = app.config["PRINT_CHUNK_PAGES"]
    app.config["PRINT_CHUNK_PAGES"] = 1
    parallel(app, make_slips(10 * (os.cpu_count() or 1)), options)  # a chunk per core
    app.config["PRINT_CHUNK_PAGES"] = chunk_pages


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slips", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from webapp.printing import slips

    app = make_app()
    options = slips.SlipOptions(slips.Layout.SAVER, 10)
    warm_up(app)
    with app.app_context():
        sets = {"": make_slips(args.slips), "_with_qr": make_slips(args.slips, badges=True)}
    for suffix, made in sets.items():
        # The machine is shared: alternate the two and keep each one's best run.
        rounds = [(one_process(app, made, options), parallel(app, made, options))
                  for _ in range(args.rounds)]  # fmt: skip
        baseline = min(one for one, _ in rounds)
        chunked = min(par for _, par in rounds)
        each = ", ".join(f"{one:.1f}/{par:.1f}" for one, par in rounds)
        print(
            f"{args.slips} paper-saver slips{suffix.replace('_', ' ')} on {os.cpu_count()} cores:"
            f" one process {baseline:.1f} s, parallel chunks {chunked:.1f} s"
            f" ({args.slips / chunked:.0f} slips/s); best of {args.rounds} alternating rounds"
            f" (one/parallel: {each} s)"
        )
        report(f"pdf_slips{suffix}_parallel_vs_one_process", chunked / baseline, TARGET)
    finish()


if __name__ == "__main__":
    main()
