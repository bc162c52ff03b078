"""End-to-end in Chromium: upload a .zip of one's own images on the Train page, train, and see the classes."""
from __future__ import annotations

import io
import zipfile

import pytest

from test_browser import ARGS, CHROMIUM, no_exceptions, settle, shot, streamlit_server, sync_api

pytestmark = pytest.mark.browser


def _zip_of(folder) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                z.write(path, f"{folder.name}/{path.relative_to(folder)}")
    return buf.getvalue()


def test_upload_a_zip_of_class_folders_train_and_inspect(tmp_path):
    from tal.data.examples import write_examples

    shapes = write_examples(tmp_path / "examples", per_class=40, table_images=12)["folder"]
    archive = tmp_path / "my-shapes.zip"
    archive.write_bytes(_zip_of(shapes))
    settings = {"TAL_RUNS_DIR": str(tmp_path / "runs"), "TAL_CACHE_DIR": str(tmp_path / "cache")}
    with streamlit_server(settings) as (url, _, _), sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2200})
        try:
            page.goto(f"{url}/train?dataset=folder&epochs=1&image_size=32&name=zip-run&timeline=0")
            page.get_by_text("Your own images.").wait_for(timeout=90_000)
            settle(page)
            page.locator('[data-testid="stFileUploaderDropzoneInput"][accept*=".zip"]').set_input_files(str(archive))
            page.get_by_text("Unpacked my-shapes.zip").wait_for(timeout=60_000)
            page.get_by_text("120 images, 3 classes (one class per image): circle 40, square 40, triangle 40").wait_for(
                timeout=60_000)
            settle(page)
            shot(page, "20-train-own-zip")
            page.get_by_role("button", name="Start training").click()
            page.get_by_text("Finished").first.wait_for(timeout=300_000)
            settle(page)
            no_exceptions(page)
            page.goto(f"{url}/inspect?run=zip-run")
            page.get_by_role("heading", name="Inspect the attention maps").wait_for(timeout=60_000)
            group = page.locator('[data-testid="stButtonGroup"]').nth(1)
            group.get_by_text("triangle").wait_for(timeout=60_000)
            settle(page)
            assert "circle" in group.inner_text() and "square" in group.inner_text()
            shot(page, "21-inspect-own-zip")
            no_exceptions(page)
        except BaseException:
            shot(page, "zz-failure-own-zip")
            raise
        finally:
            browser.close()
