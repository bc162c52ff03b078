"""Inspect under load while a training runs: server time per click, the training's speed, the server's memory.

Starts `streamlit run app.py` on a throw-away registry (the shipped demos are
listed as usual). A Chromium page (Playwright, /usr/bin/chromium) plays the
person who trains: it opens Train with a fixed configuration and presses
Start, and stays on the page (its live panel polls the server every 2 s, the curves every 4 s).
Each phase trains the same configuration once:

  alone      nobody else uses the app (the reference images/s)
  browser    one person clicks through Inspect's classes in Chromium: click to
             updated page, timed in the page (from the click event to the
             first frame painted after the update)
  ws-N       N simulated users click through Inspect's classes over the
             websocket, as a browser would (the messages are recorded from a
             real Chromium session first and replayed, each user in its own
             session); time from sending a click to the server's
             "script finished", which includes the server's queueing

Last, `--memory-trainings` small trainings (2,000 images, 1 epoch) run one
after another, and the server's memory is read after each (target: after the
tenth within 100 MB of after the first).

"alone" and "browser" alternate for `--rounds` rounds (default 3), because one
training's speed on this machine moves by ±30 % from run to run: the drop is
the median of the rounds' browser/alone ratios, and the click times are pooled
over the rounds. The ws-N phases run once each, compared with the median of
the alone runs. After each phase: the training's images/s (from the run's own
metrics), the server's memory (RSS; the training worker's separately) and each
side's CPU share. Targets (issue: stay responsive while training): Inspect
click to update p95 ≤ 350 ms in the browser during a training, and the
training's images/s drop ≤ 10 % while one person uses Inspect.

    python bench/load.py [--rounds 3] [--users 1 4 8] [--train-size 12000] [--epochs 2]
                         [--think-s 0.5]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

from _common import children, cpu_seconds_by_role, rss_mb, streamlit_app, write_result


def _settle(page, timeout=120_000):
    page.wait_for_timeout(150)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)


def _stats(values) -> dict:
    values = sorted(values)
    if not values:
        return {"n": 0}
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return {"n": len(values), "p50_ms": round(statistics.median(values)), "p95_ms": round(p95)}


# ------------------------------------------------------------------------------------------ the browser side

# Armed before each click: resolves with the ms from the click event to the first frame painted after the
# view shows the clicked class and a new timing caption (whose "Update N" counter never repeats). It waits on
# DOM mutations instead of polling, so measuring costs the browser little; Playwright's own waits
# (a text search of the page, a predicate run every animation frame) cost Chromium ~50 ms of script and
# ~100 ms of DevTools command handling per click, on the two cores the training uses (bench/README.md).
_ARM_CLICK_WATCH = """([digit]) => {
  const caption = () => {
    const els = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
      .filter(e => e.textContent.includes('page computed in'));
    return els.length ? els[els.length - 1].textContent : '';
  };
  const before = caption();
  let clicked = null;
  document.addEventListener('click', () => { clicked = performance.now(); }, {capture: true, once: true});
  window.__talClickWatch = new Promise((resolve, reject) => {
    const timer = setTimeout(() => { observer.disconnect(); reject(new Error('no update within 60 s')); }, 60000);
    const observer = new MutationObserver(() => {
      const now = caption();
      if (clicked === null || !now || now === before || !document.body.textContent.includes(`of class ${digit})`))
        return;
      observer.disconnect();
      requestAnimationFrame(() => setTimeout(() => { clearTimeout(timer); resolve(performance.now() - clicked); }, 0));
    });
    observer.observe(document.body, {childList: true, subtree: true, characterData: true});
  });
}"""


def _click_class(page, digit: str) -> float:
    """Click a class on Inspect as a person does (one mouse click on the radio); ms until the page shows it."""
    box = page.get_by_role("radiogroup", name="Class").get_by_role("radio", name=digit, exact=True).bounding_box()
    page.evaluate(_ARM_CLICK_WATCH, [digit])
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    return float(page.evaluate("window.__talClickWatch"))


def _record_inspect_messages(page, url: str) -> list[bytes]:
    """The websocket messages a browser sends to load Inspect and click classes 3 and 5."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    sent: list[bytes] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
    page.goto(f"{url}/inspect")
    page.get_by_role("radiogroup", name="Class").wait_for(timeout=180_000)
    _settle(page)
    for digit in ("3", "5"):
        _click_class(page, digit)
        _settle(page)
    messages = []
    for payload in sent:
        msg = BackMsg()
        msg.ParseFromString(payload if isinstance(payload, bytes) else payload.encode("latin-1"))
        if msg.WhichOneof("type") != "rerun_script":
            continue
        del msg.rerun_script.cached_message_hashes[:]  # a new session has nothing cached: it gets everything
        messages.append(msg.SerializeToString())
    if len(messages) < 3:
        raise RuntimeError(f"Recorded {len(messages)} script runs from the browser; expected the load and two clicks.")
    return [messages[0], messages[-2], messages[-1]]


# ---------------------------------------------------------------------------------------- simulated users

async def _user(port: int, messages: list[bytes], until: threading.Event, think_s: float, times: list, errors: list):
    import websockets
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    async def run(ws, payload) -> float:
        t = time.perf_counter()
        await ws.send(payload)
        while True:
            msg = ForwardMsg()
            msg.ParseFromString(await ws.recv())
            if msg.WhichOneof("type") == "script_finished":
                if msg.script_finished not in (0, 3):  # finished (page or fragment) successfully
                    errors.append(int(msg.script_finished))
                return (time.perf_counter() - t) * 1000

    try:
        async with websockets.connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"],
                                      max_size=None) as ws:
            await run(ws, messages[0])  # opening the page is not a click
            n = 0
            while not until.is_set():
                times.append(await run(ws, messages[1 + n % 2]))
                n += 1
                await asyncio.sleep(think_s)
    except Exception as exc:  # noqa: BLE001 - counted and reported, the benchmark goes on
        errors.append(f"{type(exc).__name__}: {exc}")


def _users_thread(n: int, port: int, messages, until, think_s) -> tuple[threading.Thread, list, list]:
    times: list[float] = []
    errors: list = []

    async def all_users():
        await asyncio.gather(*(_user(port, messages, until, think_s, times, errors) for _ in range(n)))

    thread = threading.Thread(target=lambda: asyncio.run(all_users()), daemon=True)
    thread.start()
    return thread, times, errors


# ---------------------------------------------------------------------------------------------- a phase

def _start_training(trainer, url: str, name: str, args) -> None:
    trainer.goto(f"{url}/train?train_size={args.train_size}&epochs={args.epochs}&name={name}")
    trainer.get_by_role("button", name="Start training").wait_for(timeout=180_000)
    _settle(trainer)
    trainer.get_by_role("button", name="Start training").click()


def _wait_for_batches(runs: Path, trainer, timeout=300):
    """Until the trainer's page shows training progress (the worker has started and traced the model)."""
    trainer.get_by_text("images/s").first.wait_for(timeout=timeout * 1000)


def _wait_for_run(runs: Path, name: str, timeout=1800) -> dict:
    path = runs / name / "metrics.json"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.is_file():
            return json.loads(path.read_text())
        time.sleep(0.2)
    raise TimeoutError(f"run {name} did not finish in {timeout} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="alone/browser pairs (the drop is their median)")
    parser.add_argument("--users", type=int, nargs="*", default=[1, 4, 8])
    parser.add_argument("--train-size", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--think-s", type=float, default=0.5, help="pause between one user's clicks")
    parser.add_argument("--no-browser-user", action="store_true", help="skip the phase with a person in Chromium")
    parser.add_argument("--memory-trainings", type=int, default=10,
                        help="then this many small trainings one after another, the server's memory after each")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    runs = Path(tempfile.mkdtemp(prefix="bench-load-"))
    phases: list[dict] = []
    with streamlit_app({"TAL_RUNS_DIR": str(runs)}) as (url, port, server):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"])
            person = browser.new_context(viewport={"width": 1400, "height": 2000}).new_page()
            messages = _record_inspect_messages(person, url)
            quiet = [_click_class(person, d) for d in "0123456789"]  # the page now shows class 9
            clicks_made = 9
            trainer = browser.new_context(viewport={"width": 1400, "height": 1600}).new_page()

            def memory() -> dict:
                workers = children(server.pid)
                return {"server_mb": round(rss_mb(server.pid)),
                        "workers_mb": [round(rss_mb(w)) for w in workers]}

            pair = [("alone", 0)] + ([] if args.no_browser_user else [("browser", 1)])
            plan = pair * max(1, args.rounds) + [(f"ws-{n}", n) for n in args.users]
            for k, (phase, n) in enumerate(plan):
                name = f"load-{k}-{phase}"
                _start_training(trainer, url, name, args)
                _wait_for_batches(runs, trainer)
                record = {"phase": phase, "users": n}
                cpu_before, started = cpu_seconds_by_role(server.pid), time.perf_counter()
                if phase == "browser":
                    times = []
                    while not (runs / name / "metrics.json").exists():
                        # one count over all rounds: a round never starts on the class already shown (no rerun)
                        clicks_made += 1
                        times.append(_click_class(person, str(clicks_made % 10)))
                        person.wait_for_timeout(args.think_s * 1000)
                    record["click_to_update"] = _stats(times[:-1] if len(times) > 1 else times)
                    record["click_ms"] = [round(t) for t in times]
                elif n:
                    until = threading.Event()
                    thread, times, errors = _users_thread(n, port, messages, until, args.think_s)
                    _wait_for_run(runs, name)
                    until.set()
                    thread.join(60)
                    record["server_time"] = _stats(times)
                    record["errors"] = errors[:5]
                    record["error_count"] = len(errors)
                metrics = _wait_for_run(runs, name)
                cpu_after, seconds = cpu_seconds_by_role(server.pid), time.perf_counter() - started
                # each side's share of the machine, in cores, from the first batches to the saved run
                record["cores"] = {role: round((cpu_after[role] - cpu_before[role]) / seconds, 2) for role in cpu_after}
                _settle(trainer)
                record.update(images_per_s=metrics["images_per_s"], training_time_s=metrics["training_time_s"],
                              **memory())
                phases.append(record)
                print(f"  {phase:8} images/s {record['images_per_s']:7.0f}  "
                      + (f"click→update {record['click_to_update']}" if "click_to_update" in record else "")
                      + (f"server time {record['server_time']} errors {record['error_count']}"
                         if "server_time" in record else "")
                      + f"  server {record['server_mb']} MB, worker {record['workers_mb']} MB, cores {record['cores']}",
                      flush=True)
            memory_after = []
            for k in range(args.memory_trainings):
                name = f"memory-{k}"
                small = argparse.Namespace(train_size=2000, epochs=1)
                _start_training(trainer, url, name, small)
                _wait_for_run(runs, name)
                _settle(trainer)
                memory_after.append(memory())
                print(f"  memory training {k + 1}: server {memory_after[-1]['server_mb']} MB, "
                      f"workers {memory_after[-1]['workers_mb']} MB", flush=True)
            browser.close()
    alone_rounds = [r for r in phases if r["phase"] == "alone"]
    browser_rounds = [r for r in phases if r["phase"] == "browser"]
    alones = [r["images_per_s"] for r in alone_rounds]
    alone = statistics.median(alones)
    ratios = [b["images_per_s"] / a["images_per_s"] for a, b in zip(alone_rounds, browser_rounds)]
    paired = {id(b): ratio for b, ratio in zip(browser_rounds, ratios)}  # each browser round vs its own alone
    clicks = [t for r in browser_rounds for t in r["click_ms"][:-1]]  # each round's last click may outlast it
    print(f"\nInspect, click to updated page in Chromium with no training: {_stats(quiet)}")
    print(f"Training: {args.train_size} images × {args.epochs} epochs, default model, batch 128")
    print(f"{'phase':9} {'images/s':>9} {'ratio':>6}  {'interaction p50/p95 (ms)':>26}  server MB")
    for r in phases:
        inter = r.get("click_to_update") or r.get("server_time") or {}
        kind = "browser" if "click_to_update" in r else ("server" if inter else "")
        text = f"{kind} {inter.get('p50_ms', '')}/{inter.get('p95_ms', '')}" if inter else "-"
        ratio = paired.get(id(r), r["images_per_s"] / alone)
        print(f"{r['phase']:9} {r['images_per_s']:9.0f} {ratio:6.2f}  {text:>26}  "
              f"{r['server_mb']}")
    summary = {"alone_images_per_s": [round(a) for a in alones], "browser_ratio_per_round": [round(x, 3) for x in ratios]}
    if ratios:
        summary.update(browser_ratio=round(statistics.median(ratios), 3), browser_clicks=_stats(clicks))
        print(f"One person on Inspect: training images/s ratio per round {', '.join(f'{x:.2f}' for x in ratios)}, "
              f"median {summary['browser_ratio']:.2f} (target ≥ 0.90); click to update over {len(clicks)} clicks "
              f"p50/p95 {summary['browser_clicks']['p50_ms']}/{summary['browser_clicks']['p95_ms']} ms "
              f"(target p95 ≤ 350)")
    if memory_after:
        first, last = memory_after[0]["server_mb"], memory_after[-1]["server_mb"]
        print(f"Server memory after {len(memory_after)} consecutive trainings: {first} MB after the first, "
              f"{last} MB after the last ({last - first:+} MB; target within 100 MB)")
    write_result("load", {"summary": summary, "rounds": args.rounds,
                          "memory_after_trainings": memory_after, "train_size": args.train_size,
                          "epochs": args.epochs, "think_s": args.think_s,
                          "quiet_click_to_update": _stats(quiet), "quiet_click_ms": [round(t) for t in quiet],
                          "phases": phases, "targets": {"browser_p95_ms": 350, "images_per_s_ratio": 0.9}})


if __name__ == "__main__":
    main()
