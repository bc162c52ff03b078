"""End-to-end: the real app in headless Chromium (Playwright), as a user would use it.

Starts `streamlit run app.py` on a free loopback port with a throw-away run
registry, then: open the app, train briefly from a shared link, watch the
progress and curves move, change λ, stop; check a second browser session sees
none of it; inspect the maps; upload a good and a corrupt file on Predict;
compare two runs. A reload and a second tab find a run again (another browser
sees only that the machine is busy); a run that ended with no tab open is
offered on the next visit. Screenshots go to artifacts/screenshots/. Timings
(start-up, Inspect and Predict response) are printed and written to
artifacts/browser_timings.json.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from fresh import python

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = REPO / "artifacts" / "screenshots"
TIMINGS: dict = {}

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} not installed", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def digit_png() -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (140, 140), "white")
    ImageDraw.Draw(img).line([(30, 30), (110, 30), (60, 118)], fill="black", width=12)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from conftest import mnist_dir

    mnist = mnist_dir()
    if mnist is None:
        pytest.skip("real MNIST not found (set TAL_DATA_DIR)")
    runs = tmp_path_factory.mktemp("browser-runs")
    # the second run for Compare is made with the library beforehand, to save time
    import tal

    data = tal.DataConfig(train_size=300, test_size=200, data_dir=str(mnist))
    tal.train(
        tal.ModelConfig(scale=False, channel=False),
        tal.TrainConfig(epochs=1, data=data),
        name="library-element-only",
        runs_dir=runs,
    )
    canvases = tal.DataConfig(dataset="multidigit", train_size=400, test_size=100, data_dir=str(mnist))
    tal.train(tal.ModelConfig(), tal.TrainConfig(epochs=1, data=canvases), name="library-multidigit", runs_dir=runs)

    with streamlit_server({"TAL_RUNS_DIR": str(runs), "TAL_DATA_DIR": str(mnist)}) as (url, started, _):
        yield url, runs, started
    SHOTS.parent.mkdir(parents=True, exist_ok=True)
    (SHOTS.parent / "browser_timings.json").write_text(json.dumps(TIMINGS, indent=2))
    print("\nbrowser timings:", json.dumps(TIMINGS, indent=2))


@contextlib.contextmanager
def streamlit_server(settings: dict, log=None):
    """`streamlit run app.py` on a free port with `settings` in its environment; yields (url, start time, log path)."""
    port = free_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **settings}
    started = time.perf_counter()
    log = log or (SHOTS.parent / f"server-{port}.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    out = open(log, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
         str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"streamlit did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        TIMINGS.setdefault("server_health_s", round(time.perf_counter() - started, 2))
        yield url, started, log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        out.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def nav(page, name: str) -> None:
    page.locator('[data-testid="stSidebarNav"] a', has_text=name).click()
    page.get_by_role("heading", level=1).filter(
        has_text={
            "Train": "Train a model",
            "Inspect": "Inspect",
            "Predict": "Predict",
            "Compare": "Compare runs",
            "Localization": "Do the maps point at the right place?",
        }[name]
    ).wait_for(timeout=60_000)


def settle(page, timeout: float = 60_000) -> None:
    """Wait until the script run has finished (Streamlit's 'running' indicator is gone)."""
    page.wait_for_timeout(200)
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout
    )


def no_exceptions(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0


def timer_text(page) -> str:
    loc = page.get_by_text("page computed in").or_(page.get_by_text("forward pass and figures"))
    return loc.last.inner_text() if loc.count() else ""


def class_change_times(page, digits) -> list[int]:
    """Click each class on Inspect; ms until the page shows that class and a new timing caption
    (its update counter moves on every view run, so the text never repeats)."""
    times = []
    for digit in digits:
        before = timer_text(page)
        t = time.perf_counter()
        page.get_by_role("radiogroup", name="Class").get_by_role("radio", name=digit, exact=True).click()
        page.get_by_text(f"of class {digit})").first.wait_for(timeout=30_000)
        page.wait_for_function(
            "([before]) => { const els = [...document.querySelectorAll("
            "'[data-testid=\"stCaptionContainer\"]')].filter(e => e.innerText.includes('page computed in'));"
            " return els.length && els[els.length - 1].innerText !== before; }",
            arg=[before],
            timeout=30_000,
        )
        times.append(round((time.perf_counter() - t) * 1000))
    return times


def live_map_state(page) -> tuple[str, str]:
    """The live maps' caption up to its colon ("Live maps at step N") and the picture's source."""
    figure = page.locator('[data-testid="stImage"]').filter(has_text="Live maps at step").first
    return figure.inner_text().split(":")[0], figure.locator("img").get_attribute("src")


def downloaded_code_runs_with_the_downloaded_model(page, folder: Path) -> None:
    """Click both downloads on Train; the .py, run beside the .keras, rebuilds the model and loads its weights."""
    folder.mkdir(parents=True, exist_ok=True)
    for label in ("Download model.keras", "Keras code (.py)"):
        with page.expect_download() as download:
            page.get_by_role("button", name=label).click()
        download.value.save_as(folder / download.value.suggested_filename)
    assert sorted(p.name for p in folder.iterdir()) == ["browser-run.keras", "browser-run.py"]
    done = python("browser-run.py", cwd=folder)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"Loaded the weights of {folder / 'browser-run.keras'}" in done.stdout


def test_user_journey(server, browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 2600})
    page = ctx.new_page()
    try:
        journey(page, browser, *server)
    except BaseException:
        shot(page, "zz-failure")
        raise
    finally:
        ctx.close()


def journey(page, browser, url, runs, started):

    # ---- first page: a shared Train link, straight after the server start (no visit to "/" before:
    # the page must still run through app.py, see tal/ui/router.py)
    # 12,500 steps (2,000 images, batch 16, 100 epochs): far more than any machine trains before the
    # Stop below, so the test never races the training against the click
    page.goto(f"{url}/train?train_size=2000&test_size=200&epochs=100&batch_size=16&name=browser-run")
    page.get_by_role("heading", name="Train a model").wait_for(timeout=60_000)
    page.locator('[data-testid="stSidebarNav"] a', has_text="Overview").wait_for(timeout=30_000)
    sync_api.expect(page.get_by_role("spinbutton", name="Training images (0 = all)")).to_have_value(
        "2000"
    )
    TIMINGS["start_to_first_page_s"] = round(time.perf_counter() - started, 2)
    page.get_by_text("Data:").first.wait_for()  # the shared sidebar: app.py ran
    settle(page)
    main_width = page.locator('[data-testid="stMainBlockContainer"]').bounding_box()["width"]
    assert main_width > 900, f"not the wide layout: main column {main_width:.0f} px"
    shot(page, "00-first-visit-train")
    assert "train_size=2000" in page.url
    # a digit of the user's own joins the probe images of the live maps
    page.locator('[data-testid="stFileUploader"]').filter(has_text="Your own probe digit").locator(
        'input[type="file"]').set_input_files([{"name": "seven.png", "mimeType": "image/png", "buffer": digit_png()}])
    page.get_by_text("seven.png").wait_for(timeout=30_000)
    settle(page)
    page.get_by_role("button", name="Start training").click()
    bar = page.locator('[data-testid="stProgress"]')
    page.get_by_text("images/s").first.wait_for(timeout=120_000)
    first = bar.inner_text()
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=30_000)
    # the text the wait saw, not a second read: the bar can be re-mounted between the two
    later = page.wait_for_function(
        "([first]) => { const b = document.querySelector('[data-testid=\"stProgress\"]');"
        " return b && b.innerText && b.innerText !== first ? b.innerText : false; }",
        arg=[first],
        timeout=60_000,
    ).json_value()
    assert first != later, f"progress did not move: {first!r}"
    # the live maps of the probe digits refresh while it trains: a newer step, another picture
    live = page.locator('[data-testid="stImage"]').filter(has_text="Live maps at step")
    live.first.wait_for(timeout=60_000)
    step_text, src = live_map_state(page)
    page.wait_for_function(  # both the caption's step and the picture move on
        "([before, src]) => { const f = [...document.querySelectorAll('[data-testid=\"stImage\"]')]"
        ".find(e => e.innerText.includes('Live maps at step'));"
        " const img = f && f.querySelector('img');"
        " return f && img && f.innerText.split(':')[0] !== before && img.getAttribute('src') !== src; }",
        arg=[step_text, src],
        timeout=60_000,
    )
    new_step, new_src = live_map_state(page)
    assert "then your own digit" in live.first.inner_text()
    TIMINGS["live_maps_steps_seen"] = [step_text, new_step]
    # move λ while it trains: the λ metric and curve follow from the next batch on
    thumb = (
        page.locator('[data-testid="stSlider"]')
        .filter(has_text="λ while training")
        .get_by_role("slider")
    )
    thumb.focus()
    for _ in range(10):  # 10 steps of 0.05: 0.50 -> 1.00
        page.keyboard.press("ArrowRight")
    page.locator('[data-testid="stMetric"]').filter(has_text="λ").filter(has_text="1.00").wait_for(
        timeout=90_000
    )
    shot(page, "02-train-running")

    # ---- a second browser session sees none of this session's work
    other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    other.goto(f"{url}/train")
    other.get_by_role("heading", name="Train a model").wait_for(timeout=60_000)
    other.get_by_text("Set up a model above and press").wait_for(timeout=30_000)
    settle(other)
    shot(other, "02b-second-session")
    assert other.locator('[data-testid="stProgress"]').count() == 0
    assert other.get_by_role("button", name="Start training").is_enabled()
    counted = int(re.search(r"Runs: (\d+) in", other.locator('[data-testid="stCaptionContainer"]').filter(has_text="Runs:").first.inner_text()).group(1))

    # ---- stop; the run is saved and downloadable
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("Stopped early").wait_for(timeout=120_000)
    settle(page)
    # the other session's sidebar counts the new run by itself (it polls while anyone trains)
    other.get_by_text(f"Runs: {counted + 1} in").wait_for(timeout=15_000)
    other.context.close()
    page.get_by_role("button", name="Download model.keras").wait_for()
    shot(page, "03-train-stopped")
    no_exceptions(page)
    assert (runs / "browser-run" / "model.keras").is_file()
    downloaded_code_runs_with_the_downloaded_model(page, runs.parent / "downloads")

    # ---- Inspect the new run
    page.get_by_role("link", name="Inspect its maps").click()  # from the finished run's panel
    # the equation of the class shown (the other classes' are hidden behind its class switch)
    page.locator("[data-tal-case]:not([hidden])").get_by_text("aux logit from the model").wait_for(timeout=60_000)
    settle(page)
    chosen = page.evaluate(
        "() => { const b = document.querySelector('[data-testid=\"stSelectbox\"]');"
        " return b.innerText + [...b.querySelectorAll('input')].map(i => i.value).join(' '); }"
    )
    assert "browser-run" in chosen, chosen  # the run just trained is preselected
    shot(page, "04-inspect")
    # the equation's class switch works in the browser, with no re-run
    shown = page.locator("[data-tal-case]:not([hidden])")
    other = "0" if shown.get_attribute("data-tal-value") != "0" else "1"
    page.locator("select[data-tal-switch]").select_option(other)
    assert shown.get_attribute("data-tal-value") == other and shown.count() == 1
    times = class_change_times(page, ("3", "5", "8"))
    TIMINGS["inspect_class_change_ms"] = times
    TIMINGS["inspect_class_change_median_ms"] = sorted(times)[len(times) // 2]
    TIMINGS["inspect_server_caption"] = timer_text(page)
    assert "only this view re-ran" in TIMINGS["inspect_server_caption"]  # a fragment, not the page
    page.get_by_text("Overlay on the input").click()
    settle(page)
    shot(page, "05-inspect-overlay")
    no_exceptions(page)

    # ---- what-ifs: A uniform, then the same class changes timed with it on
    page.get_by_text("A uniform", exact=True).click()
    page.get_by_text("What the interventions change").wait_for(timeout=30_000)
    settle(page)
    times = class_change_times(page, ("2", "4", "6"))
    TIMINGS["inspect_whatif_class_change_ms"] = times
    TIMINGS["inspect_whatif_server_caption"] = timer_text(page)
    assert "forward passes" in TIMINGS["inspect_whatif_server_caption"]
    shot(page, "05b-inspect-whatif")
    no_exceptions(page)
    page.get_by_text("A uniform", exact=True).click()  # off again
    settle(page)

    # ---- Predict: one good digit, one corrupt file
    nav(page, "Predict")
    settle(page)
    t = time.perf_counter()
    page.locator('input[type="file"]').set_input_files(
        [
            {"name": "seven.png", "mimeType": "image/png", "buffer": digit_png()},
            {"name": "corrupt.png", "mimeType": "image/png", "buffer": b"\x89PNG\r\n\x1a\n broken"},
        ]
    )
    page.get_by_text("1 of 2 file(s) could be read").wait_for(timeout=60_000)
    page.get_by_text("forward pass and figures").wait_for(timeout=30_000)
    TIMINGS["predict_two_files_ms"] = round((time.perf_counter() - t) * 1000)
    TIMINGS["predict_server_caption"] = timer_text(page)
    assert "only this view re-ran" in TIMINGS["predict_server_caption"]
    settle(page)
    errors = page.locator('[data-testid="stAlertContentError"]')
    assert errors.count() == 1 and "corrupt.png" in errors.first.inner_text()
    assert page.get_by_role("group", name="Prediction").count() == 1
    shot(page, "06-predict")
    no_exceptions(page)

    # ---- Compare the UI run with the library run
    nav(page, "Compare")
    page.get_by_text("Confusion matrices").wait_for(timeout=60_000)
    page.get_by_text("The same image across runs").wait_for()
    settle(page)
    page.get_by_text("predicts").nth(1).wait_for(
        timeout=60_000
    )  # both element-branch runs show maps
    page.get_by_role("heading", name="Maps over training").wait_for(timeout=60_000)
    page.get_by_text("Snapshot").nth(1).wait_for(timeout=60_000)  # both runs kept a timeline
    shot(page, "07-compare")
    page.get_by_role("heading", name="Maps over training").scroll_into_view_if_needed()
    shot(page, "07b-compare-maps-over-training")
    no_exceptions(page)

    # ---- Overview
    page.locator('[data-testid="stSidebarNav"] a', has_text="Overview").click()
    page.get_by_role("heading", name="Triple Attention Learning, explained").wait_for(
        timeout=30_000
    )
    settle(page)
    shot(page, "01-overview")
    no_exceptions(page)


def progress_moves(page) -> str:
    """Wait until the progress bar shows a training step and then a later one; returns the later text."""
    page.locator('[data-testid="stProgress"]').filter(has_text="images/s").first.wait_for(timeout=120_000)
    first = page.locator('[data-testid="stProgress"]').first.inner_text()
    return page.wait_for_function(
        "([first]) => { const b = document.querySelector('[data-testid=\"stProgress\"]');"
        " return b && b.innerText.includes('images/s') && b.innerText !== first ? b.innerText : false; }",
        arg=[first],
        timeout=60_000,
    ).json_value()


def test_a_reload_or_a_second_tab_finds_the_run_another_browser_sees_only_busy(server, browser):
    """Reload the Train page mid-run: the same run's progress, curves, λ slider and a working Stop come back;
    a second tab of the same browser shows it too; another browser learns only that the machine is busy."""
    url, runs, _ = server
    ctx = browser.new_context(viewport={"width": 1400, "height": 2200})
    elsewhere = browser.new_context(viewport={"width": 1400, "height": 1200})  # another browser
    page = ctx.new_page()
    pages = [page]
    try:
        # 12,500 steps: far longer than the reloads and checks below take on any machine
        page.goto(f"{url}/train?train_size=2000&test_size=200&epochs=100&batch_size=16&name=reload-run")
        page.get_by_role("heading", name="Train a model").wait_for(timeout=60_000)
        settle(page)
        page.get_by_role("button", name="Start training").click()
        progress_moves(page)
        assert [c["name"] for c in ctx.cookies()].count("tal_browser") == 1  # the browser keeps its token
        assert "tal_browser" not in page.url  # never in the link one shares

        page.reload()  # a new Streamlit session: the page finds its run again
        page.get_by_role("heading", name="Train a model").wait_for(timeout=60_000)
        progress_moves(page)
        page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=60_000)
        page.locator('[data-testid="stSlider"]').filter(has_text="λ while training").wait_for(timeout=30_000)
        sync_api.expect(page.get_by_role("button", name="Stop")).to_be_enabled(timeout=30_000)
        sync_api.expect(page.get_by_role("button", name="Start training")).to_be_disabled()
        assert "reload-run" in page.url  # the form's settings came back from the link
        shot(page, "13-train-reloaded")
        no_exceptions(page)

        tab = ctx.new_page()  # a second tab of the same browser, same link
        pages.append(tab)
        tab.goto(page.url)
        tab.get_by_role("heading", name="Train a model").wait_for(timeout=60_000)
        progress_moves(tab)
        sync_api.expect(tab.get_by_role("button", name="Stop")).to_be_enabled(timeout=30_000)
        shot(tab, "13b-train-second-tab")

        other = elsewhere.new_page()
        pages.append(other)
        other.goto(page.url)  # even with the same link
        other.get_by_role("heading", name="Train a model").wait_for(timeout=60_000)
        busy = other.locator('[data-testid="stSidebar"] [data-testid="stCaptionContainer"]').filter(has_text="Busy:")
        busy.wait_for(timeout=30_000)
        settle(other)
        assert "has been training for" in busy.inner_text() and "waits its turn" in busy.inner_text()
        assert other.locator('[data-testid="stProgress"]').count() == 0
        assert other.get_by_role("button", name="Start training").is_enabled()
        assert other.get_by_role("button", name="Stop").is_disabled()
        sidebar = other.locator('[data-testid="stSidebar"]').inner_text()
        assert "reload-run" not in sidebar and "Training " not in sidebar  # no name, no settings of the run
        shot(other, "13c-other-browser-busy")

        page.get_by_role("button", name="Stop").click()  # Stop from the reloaded page ends the run
        page.get_by_text("Stopped early").wait_for(timeout=120_000)
        tab.get_by_text("Stopped early").wait_for(timeout=60_000)  # the other tab follows
        busy.wait_for(state="detached", timeout=30_000)  # the machine is free again
        settle(page)
        assert (runs / "reload-run" / "model.keras").is_file()
        shot(page, "13d-train-reloaded-stopped")
        for p in pages:
            no_exceptions(p)
    except BaseException:
        for n, p in enumerate(pages):
            shot(p, f"zz-failure-reload-{n}")
        raise
    finally:
        elsewhere.close()
        ctx.close()


def test_a_run_that_ended_while_the_browser_was_away_is_offered_on_its_return(server, browser):
    """Start a short run and close the tab; back on another page later, the sidebar says the run finished
    while you were away, and "Inspect it" opens it on Inspect."""
    url, runs, _ = server
    ctx = browser.new_context(viewport={"width": 1400, "height": 1600})
    page = ctx.new_page()
    try:
        # on the synthetic digits, which Inspect never opens first by itself: only "Inspect it" selects it
        page.goto(f"{url}/train?dataset=synthetic&train_size=1000&test_size=100&epochs=2&name=away-run")
        page.get_by_role("heading", name="Train a model").wait_for(timeout=60_000)
        settle(page)
        page.get_by_role("button", name="Start training").click()
        sync_api.expect(page.get_by_role("button", name="Stop")).to_be_enabled(timeout=30_000)
        page.close()  # nobody of this browser watches it end
        deadline = time.time() + 300
        while not (runs / "away-run" / "model.keras").is_file():  # saved: the run ended
            assert time.time() < deadline, "the run was not saved"
            time.sleep(0.5)
        page = ctx.new_page()
        page.goto(f"{url}/predict")
        note = page.locator('[data-testid="stSidebar"] [data-testid="stAlertContentSuccess"]')
        note.filter(has_text="while you were away").wait_for(timeout=60_000)
        assert "Your run away-run finished while you were away" in note.inner_text()
        settle(page)
        shot(page, "14-finished-while-away")
        page.get_by_role("button", name="Inspect it").click()
        page.get_by_role("heading", name="Inspect the attention maps").wait_for(timeout=60_000)
        settle(page)
        chosen = page.evaluate(
            "() => [...document.querySelector('[data-testid=\"stSelectbox\"]').querySelectorAll('input')]"
            ".map(i => i.value).join(' ') + document.querySelector('[data-testid=\"stSelectbox\"]').innerText"
        )
        assert "away-run" in chosen, chosen
        assert page.locator('[data-testid="stSidebar"]').get_by_text("while you were away").count() == 0
        no_exceptions(page)
    except BaseException:
        shot(page, "zz-failure-away")
        raise
    finally:
        ctx.close()


def test_multilabel_journey(server, browser):
    """Multidigit: score the maps on Localization, open a miss on Inspect, see the boxes and present classes."""
    url, runs, _ = server
    ctx = browser.new_context(viewport={"width": 1400, "height": 2600})
    page = ctx.new_page()
    try:
        page.goto(f"{url}/localization")
        page.get_by_role("heading", name="Do the maps point at the right place?").wait_for(timeout=60_000)
        t = time.perf_counter()
        # the table is drawn on a canvas (its cells are hidden), so wait for the caption under it
        page.get_by_text("Pointing game: the map's highest cell").wait_for(timeout=180_000)
        settle(page, timeout=180_000)
        TIMINGS["localization_first_scores_s"] = round(time.perf_counter() - t, 1)
        page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=60_000)  # drawn lazily
        page.locator('[data-testid="stPlotlyChart"]').nth(1).wait_for(timeout=60_000)  # both charts drawn
        shot(page, "08-localization")
        no_exceptions(page)
        page.get_by_role("button", name="Open on Inspect").click()
        page.get_by_role("heading", name="Inspect the attention maps").wait_for(timeout=60_000)
        page.get_by_text("Classes present (model)").wait_for(timeout=60_000)
        page.get_by_text("box in its class colour").first.wait_for()
        settle(page)
        assert "By number" in page.locator('[data-testid="stButtonGroup"]').first.inner_text()
        shot(page, "09-inspect-multidigit")
        no_exceptions(page)
    except BaseException:
        shot(page, "zz-failure-multilabel")
        raise
    finally:
        ctx.close()


def test_study_journey(server, browser):
    """Studies: design 3 configurations × 2 seeds, watch it fill in, stop midway, resume, download the chart."""
    url, runs, _ = server
    ctx = browser.new_context(viewport={"width": 1400, "height": 2200}, accept_downloads=True)
    page = ctx.new_page()
    try:
        page.goto(f"{url}/studies")
        page.get_by_role("heading", name="Ablation studies").wait_for(timeout=60_000)
        page.get_by_text("Estimated time").wait_for(timeout=120_000)
        settle(page, timeout=120_000)
        configs = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Configurations")
        configs.locator("input").click()
        page.get_by_role("option", name="channel", exact=True).click()
        page.keyboard.press("Escape")
        settle(page)
        for label, value in (("Seeds", "2"), ("Training images (0 = all)", "300"),
                             ("Test images (0 = all)", "100"), ("Epochs", "1")):
            box = page.get_by_label(label, exact=True).and_(page.locator("input"))
            box.fill(value)
            box.press("Enter")
            settle(page, timeout=120_000)
        name = page.get_by_label("Study name", exact=True).and_(page.locator("input"))
        name.fill("browser-study")
        name.press("Enter")
        settle(page, timeout=120_000)
        trainings = page.locator('[data-testid="stMetric"]').filter(has_text="Trainings")
        sync_api.expect(trainings).to_contain_text("6", timeout=60_000)
        shot(page, "10-study-designed")
        page.get_by_role("button", name="Start the study").click()
        # bars and the verdict appear as runs arrive; stop after the third
        page.get_by_text("Run 3 of 6").wait_for(timeout=180_000)
        page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=60_000)
        shot(page, "11-study-running")
        page.get_by_role("button", name="Stop the study").click()
        page.get_by_text("Stopped after").wait_for(timeout=180_000)
        settle(page)
        stopped = page.get_by_text("Stopped after").first.inner_text()
        saved = json.loads((runs / "_ablations" / "browser-study" / "summary.json").read_text())
        assert saved["complete"] is False and saved["planned"] == 6, saved
        # resume from the saved list: the finished runs are reused, the rest train
        page.get_by_role("button", name="Resume this study").click()
        page.get_by_text("All 6 runs are in").wait_for(timeout=300_000)
        settle(page)
        saved = json.loads((runs / "_ablations" / "browser-study" / "summary.json").read_text())
        assert saved["complete"] is True and sum(r.get("reused", False) for r in saved["trials"]) >= 2, stopped
        assert {r["seeds"] for r in saved["rows"]} == {2}
        shot(page, "12-study-done")
        # the chart downloads as SVG from its camera icon, the summary as CSV
        chart = page.locator('[data-testid="stPlotlyChart"]').first
        chart.hover()
        with page.expect_download(timeout=60_000) as download:
            chart.get_by_role("button", name="Download plot").click()
        svg = Path(download.value.path()).read_text()
        assert download.value.suggested_filename == "browser-study.svg" and "<svg" in svg
        with page.expect_download(timeout=60_000) as download:
            page.get_by_role("button", name="Summary (CSV)").first.click()
        assert Path(download.value.path()).read_text().startswith("variant,branches")
        no_exceptions(page)
    except BaseException:
        shot(page, "zz-failure-study")
        raise
    finally:
        ctx.close()


def test_first_run_without_data_or_network_trains_at_the_first_start(browser, tmp_path):
    """A fresh machine: no MNIST, no Keras cache, no network. The Train page starts on the synthetic digits,
    says so, and the first Start trains without an error box; the server's log has no TensorFlow noise."""
    settings = {"TAL_RUNS_DIR": str(tmp_path / "runs"), "TAL_DATA_DIR": str(tmp_path / "no-mnist-here"),
                "KERAS_HOME": str(tmp_path / "keras"), "HOME": str(tmp_path / "home"),
                "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}  # nothing listens on 9
    with streamlit_server(settings, log=tmp_path / "server.log") as (url, _, log):
        page = browser.new_context(viewport={"width": 1400, "height": 1800}).new_page()
        page.goto(f"{url}/train?train_size=300&test_size=100&epochs=1")
        page.get_by_text("MNIST is not on this machine").wait_for(timeout=120_000)
        settle(page)
        page.get_by_role("button", name="Start training").click()
        page.get_by_text("Finished").wait_for(timeout=240_000)
        settle(page)
        shot(page, "09-first-run-offline")
        assert page.locator('[data-testid="stAlertContentError"]').count() == 0
        assert page.locator('[data-testid="stException"]').count() == 0
        page.context.close()
    text = log.read_text(errors="replace")
    for noise in ("cuInit", "cuda drivers", "oneDNN", "absl::InitializeLog", "retracing"):
        assert noise not in text, f"{noise!r} in the server log:\n{text[-2000:]}"
