"""An admin prints a batch left awaiting print and downloads the PDF, in a real browser."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.test_accessibility import violations
from tests.browser.test_import_safety import sign_in
from tests.printing.conftest import awaiting_batch, make_office, slips_in

pytestmark = pytest.mark.browser


@pytest.mark.settings(PRINT_JOB_THRESHOLD=2)
def test_admin_prints_an_awaiting_batch_and_downloads_the_pdf(app, live_server, browser):
    office = make_office(app, 3, names=[("Zoë", "Brontë"), ("小明", "王"), ("<b>x</b>", "Bold")])
    batch_id = awaiting_batch(app, office)
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, bypass_csp=True, accept_downloads=True
    )
    context.route("https://cdn.jsdelivr.net/**", lambda route: route.abort())
    page = context.new_page()
    page.set_default_timeout(20_000)
    sign_in(page, live_server, "office.admin")

    page.goto(f"{live_server}/admin/batches/{batch_id}/print")
    expect(page.get_by_role("heading", name=f"Print batch {batch_id}")).to_be_visible()
    assert violations(page) == []
    page.get_by_role("radio", name="Paper saver").check()
    page.get_by_label("Slips a page (paper saver)").select_option("8")
    page.get_by_role("button", name="Print 3 slips (PDF)").click()

    download_button = page.get_by_role("button", name="Download the PDF")
    expect(download_button).to_be_visible()
    assert violations(page) == []
    with page.expect_download() as info:
        download_button.click()
    download = info.value
    assert download.suggested_filename.startswith(f"batch-{batch_id}-")
    pdf = Path(download.path()).read_bytes()
    found = slips_in(pdf)
    assert sorted(s["name"] for s in found) == ["<b>x</b> Bold", "Zoë Brontë", "小明 王"]
    context.close()
