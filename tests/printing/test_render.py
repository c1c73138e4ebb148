"""Rendering: layout and page counts, names in any script, nothing fetched but static files."""

from __future__ import annotations

import io
import socket
import threading
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader
from weasyprint.urls import URLFetchingError

from tests.printing.conftest import HOSTILE_NAMES, SAVER_SLIP, SINGLE_SLIP, pdf_pages, slips_in
from webapp.printing import render, slips
from webapp.printing.paper import PaperSize
from webapp.printing.slips import Layout, SlipOptions

EXPIRES = datetime(2026, 12, 20, 12, 0, tzinfo=UTC)


def _slips(count: int, names=None) -> list[slips.Slip]:
    names = names or [(f"Given{n}", f"Family{n}") for n in range(count)]
    return [
        slips.make_slip(
            "Maple Grove Elementary",
            " ".join(names[n % len(names)]),
            f"user{n}",
            f"k7mq-x3rt-{n:04d}",
            EXPIRES,
        )
        for n in range(count)
    ]


@pytest.mark.parametrize(("per_page", "count", "pages"), [(8, 17, 3), (10, 20, 2), (12, 13, 2)])
def test_paper_saver_puts_the_chosen_number_of_slips_on_each_page(app, per_page, count, pages):
    with app.test_request_context():
        pdf = slips.render_slips(_slips(count), SlipOptions(Layout.SAVER, per_page))
    text = pdf_pages(pdf)
    assert len(text) == pages
    assert len(SAVER_SLIP.findall(text[0])) == per_page
    found = slips_in(pdf)
    assert [(s["username"], s["password"]) for s in found] == [
        (f"user{n}", f"k7mq-x3rt-{n:04d}") for n in range(count)
    ]


def test_one_per_page_prints_a_letter_a_page_that_says_keep_it_private(app):
    with app.test_request_context():
        pdf = slips.render_slips(_slips(3), SlipOptions(Layout.SINGLE))
    pages = pdf_pages(pdf)
    assert len(pages) == 3
    assert all("Keep this letter private" in page for page in pages)
    assert [s["username"] for s in slips_in(pdf, SINGLE_SLIP)] == ["user0", "user1", "user2"]


def test_every_saver_slip_says_keep_it_private(app):
    with app.test_request_context():
        pdf = slips.render_slips(_slips(10), SlipOptions(Layout.SAVER, 10))
    assert pdf_pages(pdf)[0].count("Keep this slip private") == 10


@pytest.mark.parametrize(
    ("paper", "size"), [(PaperSize.A4, (595, 842)), (PaperSize.LETTER, (612, 792))]
)
def test_paper_size_follows_the_choice(app, paper, size):
    with app.test_request_context():
        pdf = slips.render_slips(_slips(2), SlipOptions(Layout.SAVER, 8, paper))
    box = PdfReader(io.BytesIO(pdf)).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == size


def test_names_in_any_script_and_html_like_names_print_as_literal_text(app, monkeypatch):
    fetched: list[str] = []
    original = render.StaticOnlyFetcher.fetch
    monkeypatch.setattr(
        render.StaticOnlyFetcher,
        "fetch",
        lambda self, url, headers=None: fetched.append(url) or original(self, url, headers),
    )
    with app.test_request_context():
        pdf = slips.render_slips(_slips(5, HOSTILE_NAMES), SlipOptions(Layout.SAVER, 10))
    names = [s["name"] for s in slips_in(pdf)]
    assert names == [" ".join(n) for n in HOSTILE_NAMES]
    # The markup in names stayed text: the only resource asked for is the print stylesheet.
    assert fetched == [render.STATIC_BASE + "print/print.css"]


def test_a_large_document_renders_in_chunks_in_parallel_and_keeps_its_order(app):
    app.config["PRINT_CHUNK_PAGES"] = 1
    with app.test_request_context():
        chunks = slips.slip_chunks(_slips(30), SlipOptions(Layout.SAVER, 8))
        assert len(chunks) == 4
        seen: list[tuple[int, int]] = []
        pdf = slips.render_slips(
            _slips(30), SlipOptions(Layout.SAVER, 8), progress=lambda *step: seen.append(step)
        )
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert len(pdf_pages(pdf)) == 4
    assert [s["username"] for s in slips_in(pdf)] == [f"user{n}" for n in range(30)]
    assert PdfReader(io.BytesIO(pdf)).metadata.title == "Keyslip"


@pytest.fixture
def loopback_listener():
    """A TCP listener on loopback that counts the connections it receives."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    connections = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            connections.append(conn)
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], connections
    stop.set()
    thread.join()
    server.close()


def test_the_fetcher_refuses_file_urls_and_other_hosts(app, loopback_listener):
    port, connections = loopback_listener
    fetcher = render.StaticOnlyFetcher(app.static_folder)
    for url in (
        "file:///etc/passwd",
        f"http://127.0.0.1:{port}/x.css",
        f"https://127.0.0.1:{port}/x.css",
        "https://example.com/print/print.css",
        "data:text/css,body{color:red}",
        render.STATIC_BASE + "../webapp/config.py",
        render.STATIC_BASE + "%2e%2e/pyproject.toml",
        render.STATIC_BASE + "print/print.css?x=1",
    ):
        with pytest.raises(render.RefusedURL):
            fetcher.fetch(url)
    assert fetcher.fetch(render.STATIC_BASE + "print/print.css").read().startswith(b"/*")
    assert connections == []


def test_a_hostile_document_fetches_nothing_outside_the_static_files(app, loopback_listener):
    port, connections = loopback_listener
    html = (
        f'<link rel="stylesheet" href="http://127.0.0.1:{port}/evil.css">'
        '<img src="file:///etc/passwd">'
        f'<p style="background: url(http://127.0.0.1:{port}/bg.png)">hello</p>'
        f"<img src=\"data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg'>"
        f"<image href='http://127.0.0.1:{port}/svg.png'/></svg>\">"
    )
    pdf = render.render_html(html, app.static_folder)
    assert "hello" in pdf_pages(pdf)[0]
    assert "root:" not in pdf_pages(pdf)[0]
    assert connections == []
    with pytest.raises(URLFetchingError):
        from weasyprint.urls import fetch

        with fetch(render.StaticOnlyFetcher(app.static_folder), "file:///etc/passwd"):
            pass


def test_the_pdf_names_nobody_in_its_metadata_and_carries_no_script_or_links(app):
    with app.test_request_context():
        pdf = slips.render_slips(_slips(3, HOSTILE_NAMES), SlipOptions(Layout.SINGLE))
    metadata = PdfReader(io.BytesIO(pdf)).metadata
    assert metadata.title == "Keyslip"
    assert metadata.author is None and metadata.subject is None
    for marker in (b"/JavaScript", b"/JS", b"/OpenAction", b"/EmbeddedFile", b"/URI"):
        assert marker not in pdf
