"""Compare's response in the browser with and without a study training in the app, side by side.

Starts `streamlit run app.py` on a throw-away registry (the shipped demos are
listed as usual) and drives it with Chromium (Playwright, /usr/bin/chromium):
on Compare, with the default selection, it changes "Test image #" (a whole
page run) and the "Maps over training" step (a fragment), `--clicks` times
each, timing click to updated page. Then a second browser session starts a
study on the Studies page (`--train-size` images, `--epochs` epochs, 3
configurations × 2 seeds) and the same clicks are timed while it trains.
Target (issue: studies from the app): Inspect-like interactions ≤ 300 ms.

    python bench/compare_during_study.py [--clicks 8] [--train-size 6000] [--epochs 3]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from _common import streamlit_app, write_result


def _settle(page, timeout=120_000):
    page.wait_for_timeout(150)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)


def _caption(page) -> str:
    loc = page.get_by_text("Snapshot ").and_(page.locator('[data-testid="stImageCaption"]'))
    return " | ".join(loc.all_inner_texts())


def _time_clicks(page, clicks: int, first: int = 1) -> dict:
    """ms per change of the test image (page run; images `first`, `first` + 1, …) and of the timeline
    step (fragment)."""
    image_ms, step_ms = [], []
    box = page.get_by_label("Test image #", exact=False).and_(page.locator("input"))
    for n in range(clicks):
        before = page.locator('[data-testid="stCaptionContainer"]').filter(has_text="test image #").first.inner_text()
        t = time.perf_counter()
        box.fill(str(first + n))
        box.press("Enter")
        page.wait_for_function(
            "([before]) => [...document.querySelectorAll('[data-testid=\"stCaptionContainer\"]')]"
            ".some(e => e.innerText.includes('test image #') && !e.innerText.includes(before))",
            arg=[before.split(",")[0]], timeout=60_000)
        _settle(page)
        image_ms.append((time.perf_counter() - t) * 1000)
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="Share of training").get_by_role("slider")
    for n in range(clicks):
        before = _caption(page)
        t = time.perf_counter()
        slider.focus()
        page.keyboard.press("ArrowLeft" if n % 2 == 0 else "ArrowRight")
        page.wait_for_function(
            "([before]) => [...document.querySelectorAll('[data-testid=\"stImageCaption\"]')]"
            ".filter(e => e.innerText.startsWith('Snapshot ')).map(e => e.innerText).join(' | ') !== before",
            arg=[before], timeout=60_000)
        step_ms.append((time.perf_counter() - t) * 1000)
    return {"test_image_ms": image_ms, "timeline_step_ms": step_ms}


def _stats(values) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return f"p50 {statistics.median(values):5.0f} ms · p95 {p95:5.0f} ms"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=8)
    parser.add_argument("--train-size", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    runs = tempfile.mkdtemp(prefix="bench-compare-")
    with streamlit_app({"TAL_RUNS_DIR": runs}) as (url, port, server):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"])
            page = browser.new_context(viewport={"width": 1400, "height": 2400}).new_page()
            page.goto(f"{url}/compare")
            page.get_by_role("heading", name="Maps over training").wait_for(timeout=180_000)
            _settle(page)
            # the default selection (three shipped runs without the element branch) has no test image picker:
            # add the full model
            runs_box = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Runs to compare")
            runs_box.locator("input").click()
            page.get_by_role("option").filter(has_text="mnist-scale_channel_element").click()
            page.keyboard.press("Escape")
            _settle(page)
            page.get_by_text("Test image #").first.wait_for(timeout=120_000)
            page.get_by_text("% of training").click()
            _settle(page)
            _time_clicks(page, 2)  # warm-up: caches, first figures
            quiet = _time_clicks(page, args.clicks)

            other = browser.new_context(viewport={"width": 1400, "height": 2000}).new_page()
            other.goto(f"{url}/studies")
            other.get_by_text("Estimated time").wait_for(timeout=180_000)
            _settle(other)
            configs = other.locator('[data-testid="stMultiSelect"]').filter(has_text="Configurations")
            configs.locator("input").click()
            other.get_by_role("option", name="channel", exact=True).click()
            other.keyboard.press("Escape")
            for label, value in (("Seeds", "2"), ("Training images (0 = all)", str(args.train_size)),
                                 ("Epochs", str(args.epochs))):
                box = other.get_by_label(label, exact=True).and_(other.locator("input"))
                box.fill(value)
                box.press("Enter")
                _settle(other)
            other.get_by_role("button", name="Start the study").click()
            other.get_by_text("training, step").wait_for(timeout=180_000)
            busy = _time_clicks(page, args.clicks, first=args.clicks + 1)  # other images than the quiet clicks
            running = other.locator('[data-testid="stProgress"]').first.inner_text()
            browser.close()
    print(f"Compare, {args.clicks} clicks each (click to updated page, in Chromium):")
    for key, title in (("test_image_ms", "test image # (page run)"), ("timeline_step_ms", "timeline step (fragment)")):
        print(f"  {title:28} no study: {_stats(quiet[key])} | study training: {_stats(busy[key])}")
    print(f"  (the study was at: {running})")
    write_result("compare_during_study", {"clicks": args.clicks, "train_size": args.train_size,
                                          "epochs": args.epochs, "quiet": quiet, "busy": busy,
                                          "target_ms": 300})


if __name__ == "__main__":
    main()
