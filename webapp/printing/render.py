"""HTML to PDF with WeasyPrint: one process for small documents, all cores for large ones.

Documents are built as chunks of whole pages (each chunk a complete HTML document). One
chunk is rendered here; several are rendered in parallel worker processes and merged with
pypdf, in order. The workers come from a fork server that has already imported WeasyPrint,
so starting one is cheap and never forks a process that runs threads.

WeasyPrint fetches nothing but the app's own static files: documents link them under
STATIC_BASE (a reserved .invalid host that no resolver answers), and StaticOnlyFetcher maps
those URLs to files in the static folder. file:, other hosts and paths that climb out of the
folder are refused (SECURITY.md F1); of data: URLs only inline PNG images (badge QR codes)
pass, which reach no file and no host.
"""

from __future__ import annotations

import base64
import io
import logging
import mimetypes
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pypdf import PdfWriter
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

log = logging.getLogger(__name__)

STATIC_BASE = "https://static.keyslip.invalid/"
PNG_DATA = "data:image/png;base64,"
TITLE = "Keyslip"


class RefusedURL(ValueError):
    """A document asked for something other than one of the app's static files."""


class StaticOnlyFetcher(URLFetcher):
    """Serve WeasyPrint the app's static files; refuse every other URL."""

    def __init__(self, static_folder: str | Path) -> None:
        super().__init__(allowed_protocols=("https",), allow_redirects=False)
        self.static_folder = Path(static_folder).resolve()

    def static_path(self, url: str) -> Path | None:
        """Return the static file a URL names, or None if it names anything else."""
        if not url.startswith(STATIC_BASE):
            return None
        parts = urlsplit(url)
        if parts.query or parts.fragment:
            return None
        path = (self.static_folder / unquote(parts.path).lstrip("/")).resolve()
        if not path.is_relative_to(self.static_folder) or not path.is_file():
            return None
        return path

    def fetch(self, url: str, headers: dict | None = None) -> URLFetcherResponse:
        if url.startswith(PNG_DATA):
            # The QR code of a badge, made by webapp/printing/badges.py: bytes in the
            # document itself, never a file or a host.
            png = base64.b64decode(url[len(PNG_DATA) :], validate=True)
            return URLFetcherResponse(url, png, {"Content-Type": "image/png"})
        path = self.static_path(url)
        if path is None:
            log.warning("PDF rendering refused a resource outside the app's static files")
            raise RefusedURL("only the app's static files may be fetched")
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": content_type})


def render_html(html: str, static_folder: str) -> bytes:
    """Render one complete HTML document to PDF bytes, fetching only static files."""
    fetcher = StaticOnlyFetcher(static_folder)
    return HTML(string=html, base_url=STATIC_BASE, url_fetcher=fetcher).write_pdf()


def render_chunks(
    chunks: Sequence[str],
    static_folder: str,
    *,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> bytes:
    """Render chunks of whole pages and join them in order into one PDF.

    One chunk is rendered in this process; more go to worker processes on every core.
    `progress` is called with (chunks finished, chunks in all) as chunks finish.
    """
    if len(chunks) == 1:
        pdf = render_html(chunks[0], static_folder)
        if progress:
            progress(1, 1)
        return pdf
    workers = min(workers or os.cpu_count() or 1, len(chunks))
    with ProcessPoolExecutor(max_workers=workers, mp_context=_fork_server()) as pool:
        futures = [pool.submit(render_html, chunk, static_folder) for chunk in chunks]
        parts = []
        for done, future in enumerate(futures, start=1):
            parts.append(future.result())
            if progress:
                progress(done, len(chunks))
    return merge(parts)


def merge(parts: Sequence[bytes]) -> bytes:
    """Join PDFs page after page, with a title that names nobody."""
    writer = PdfWriter()
    for part in parts:
        writer.append(io.BytesIO(part))
    writer.add_metadata({"/Title": TITLE, "/Producer": TITLE})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


_context: multiprocessing.context.BaseContext | None = None


def _fork_server() -> multiprocessing.context.BaseContext:
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload([__name__])
    return _context
