"""Shared helpers for the benchmarks: environment record, JSON output, RSS."""
from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TAL_DATA_DIR", str(REPO.parent / "shared" / "data" / "mnist"))


def environment() -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def write_result(name: str, data: dict) -> Path:
    """bench/results/<name>.json (written whole, then renamed)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"benchmark": name, "environment": environment(), **data}, indent=2))
    tmp.replace(path)
    print(f"wrote {path.relative_to(REPO)}")
    return path


def _status_mb(field: str, pid) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:  # the process has ended
        pass
    return float("nan")


def rss_mb(pid="self") -> float:
    """Resident set size of a process (this one by default), in MB (Linux /proc)."""
    return _status_mb("VmRSS", pid)


def peak_rss_mb(pid="self") -> float:
    """Peak resident set size of a process (this one by default), in MB."""
    return _status_mb("VmHWM", pid)


def timed_steps(model, x, targets, batch_size: int) -> list[float]:
    """One `fit` epoch over `x`; returns each training step's duration in seconds.

    Each step is timed from its batch-begin to its batch-end callback, so the
    per-call set-up of `fit` (building the dataset and iterator, about 0.1 s,
    and now and then a 0.3 s pause) is left out: it is not part of a step, and
    in a real run it is paid once per training, not once per 20 steps.
    """
    import keras

    durations: list[float] = []

    class StepTimer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            durations.append(time.perf_counter() - self.start)

    model.fit(x, targets, batch_size=batch_size, epochs=1, verbose=0, shuffle=False, callbacks=[StepTimer()])
    return durations


def process_table() -> dict[int, tuple[int, float, bytes]]:
    """{pid: (parent pid, CPU seconds used so far (user + system, all threads), command line)}, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:  # the process ended meanwhile
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # the command name in parentheses may hold spaces
        table[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick, command)
    return table


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (e.g. the server's training worker)."""
    return sorted(child for child, (parent, _, _) in process_table().items() if parent == pid)


def cpu_seconds_by_role(server_pid: int) -> dict[str, float]:
    """CPU seconds used so far by Chromium's processes, the Streamlit server and the server's descendants
    (the training worker). Sample twice and divide the difference by the wall time for each one's share of
    the machine, in cores."""
    table = process_table()

    def descends_from_server(pid):
        while pid in table and pid > 1:
            pid = table[pid][0]
            if pid == server_pid:
                return True
        return False

    roles = {"browser": 0.0, "server": 0.0, "worker": 0.0}
    for pid, (_, cpu, command) in table.items():
        if b"chrom" in command:
            roles["browser"] += cpu
        elif pid == server_pid:
            roles["server"] += cpu
        elif descends_from_server(pid):
            roles["worker"] += cpu
    return roles


@contextlib.contextmanager
def streamlit_app(settings: dict):
    """`streamlit run app.py` on a free loopback port with `settings` added to its environment;
    yields `(url, port, server process)` once `/_stcore/health` answers, and stops it (its whole
    process group: the training worker too) on the way out."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **settings}
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                               "--server.port", str(port), "--server.address", "127.0.0.1",
                               "--browser.gatherUsageStats", "false"], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.3)
        yield url, port, server
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
