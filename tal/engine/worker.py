"""Training in a process of its own, driven from another process through a pipe.

The app's server keeps no training in its own interpreter: a training's
Python work would compete with every page's script run for the same
interpreter lock. A `Worker` is a long-lived child process (a fresh
interpreter: it shares nothing with the server) that runs one task at a time
with the same engine the CLI uses (`tal.engine.training.train`,
`tal.engine.study.run_study`).

A *task* is a picklable `("train" | "study", kwargs)`. While it runs, the
worker sends *events* `(kind, value)` up the pipe:

    info        the run's description (TrainingCallback.on_train_begin)
    batch       one Progress dict per training batch
    epoch       one Progress dict per finished epoch
    phase       the engine's phase ("training", "validating", …)
    snapshot    the newest map snapshot of the probe images
    train_end   training is over; evaluating and saving follow
    trial_start (index, trial, reused run or None)   studies only
    trial_end   (index, trial, record)               studies only
    status      a status word for the job ("training")
    done        the task's outcome (a dict), last
    error       {"message", "type", "details"}, last

and reads *requests* `("stop",)` and `("aux_weight", λ)`, applied between two
training batches through a `TrainingControl`. A worker killed mid-task leaves
no run behind: the registry writes a run into a hidden staging folder and
renames it only when complete; a worker starting later removes such a folder
once it is an hour old (`tal.engine.registry.prune_staging`).

`run_task` is the same loop without a process, for tests and for callers that
want it in a thread.
"""
from __future__ import annotations

import os
import queue
import threading
import traceback

# The worker lowers its own scheduling priority: pages stay quick while it trains, and
# the training still gets every cycle the pages leave idle. TAL_WORKER_NICENESS overrides it.
WORKER_NICENESS = 5
# Environment variables passed with every task (the engine reads them: TAL_DATA_DIR, TAL_RUNS_DIR, …).
ENV_PREFIXES = ("TAL_", "KERAS_HOME")


class WorkerDied(RuntimeError):
    """The worker process ended in the middle of a task (killed, crashed or out of memory)."""


def friendly_error(exc: BaseException) -> str:
    """The library's own message for expected errors; a short summary otherwise."""
    from tal.core.config import ConfigError
    from tal.data.datasets import DataFormatError, DataNotFoundError
    from tal.data.sources import SourceError
    from tal.engine.study import StudyError

    if isinstance(exc, WorkerDied):
        return str(exc)
    if isinstance(exc, (ConfigError, DataNotFoundError, DataFormatError, StudyError, SourceError)):
        return str(exc)
    if type(exc) is ValueError:  # the library's validation messages are written for users
        return f"Training failed: {exc}"
    if isinstance(exc, MemoryError):
        return "Training ran out of memory. Try a smaller batch size or fewer training images."
    return f"Training failed: {type(exc).__name__}: {exc}"


def error_event(exc: BaseException) -> dict:
    return {"message": friendly_error(exc), "type": type(exc).__name__, "details": traceback.format_exc()}


class EventSender:
    """A `tal.TrainingCallback` that turns every engine call into an event."""

    def __init__(self, send):
        self.send = send

    def on_train_begin(self, info: dict) -> None:
        self.send("info", info)

    def on_batch_end(self, progress) -> None:
        self.send("batch", progress.to_dict())

    def on_epoch_end(self, progress) -> None:
        self.send("epoch", progress.to_dict())

    def on_phase(self, progress) -> None:
        self.send("phase", progress.phase)

    def on_snapshot(self, snapshot: dict) -> None:
        self.send("snapshot", snapshot)

    def on_train_end(self, result) -> None:
        self.send("train_end", None)


def run_task(task, send, control) -> dict:
    """Run one task here, sending its events to `send(kind, value)`; returns its outcome.

    `train` kwargs are those of `tal.engine.training.train` (without callbacks and
    control); `study` kwargs are `plan`, `runs_dir` and an optional `ray_address`.
    """
    kind, kwargs = task
    if kind == "train":
        from tal.engine import training

        result = training.train(**kwargs, callbacks=[EventSender(send)], control=control)
        return {"metrics": result.metrics, "run_path": None if result.run is None else str(result.run.path),
                "stopped": result.stopped}
    if kind == "study":
        from tal.engine import study

        plan, runs_dir, address = kwargs["plan"], kwargs.get("runs_dir"), kwargs.get("ray_address")
        done = []

        def trial_start(i, trial, reused):
            send("trial_start", (i, trial, reused))

        def trial_end(i, trial, record):
            done.append(i)
            send("trial_end", (i, trial, record))

        if address:
            send("status", "training")
            study.run_study_on_ray(plan, runs_dir=runs_dir, address=address, control=control,
                                   on_trial_start=trial_start, on_trial_end=trial_end)
        else:
            study.run_study(plan, runs_dir=runs_dir, control=control, on_trial_start=trial_start,
                            callbacks_for=lambda trial: [EventSender(send)], on_trial_end=trial_end)
        return {"complete": len(done) == len(plan.trials)}
    raise ValueError(f"Unknown task kind {kind!r}; expected 'train' or 'study'.")


# ------------------------------------------------------------------------------ the child process


def _serve(conn) -> None:
    """The worker's main loop: tasks one after another, requests applied while they run."""
    try:
        os.nice(int(os.environ.get("TAL_WORKER_NICENESS", WORKER_NICENESS)))
    except OSError:  # not permitted here: run at the normal priority
        pass
    _prune_staging()
    from tal.engine.startup import import_tensorflow_quietly

    import_tensorflow_quietly()  # no CUDA-probing lines in the server's log
    from tal.engine.training import TrainingControl

    tasks: queue.Queue = queue.Queue()
    current = {"control": TrainingControl()}
    send_lock = threading.Lock()

    def send(kind, value):
        with send_lock:
            conn.send((kind, value))

    def listen():  # requests arrive while the main thread trains
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):  # the server is gone: nobody will read this task's result
                os._exit(0)
            if message[0] == "task":  # each task its own control: a late Stop for the last one cannot reach it
                current["control"] = TrainingControl()
                tasks.put((message[1], message[2], current["control"]))
            elif message[0] == "stop":
                current["control"].stop()
            elif message[0] == "aux_weight":
                current["control"].set_aux_weight(message[1])
            elif message[0] == "quit":
                tasks.put(None)
                return

    threading.Thread(target=listen, name="tal-worker-requests", daemon=True).start()
    while (item := tasks.get()) is not None:
        task, environment, control = item
        _adopt(environment)
        try:
            outcome = run_task(task, send, control)
        except Exception as exc:  # noqa: BLE001 - reported to the server; the worker lives on for the next task
            send("error", error_event(exc))
        else:
            send("done", outcome)
        _forget_models()


def _prune_staging() -> None:
    """Remove what killed workers left in the runs folder's staging (a killed worker cannot clean up)."""
    from tal.engine.registry import prune_staging

    try:
        prune_staging()
    except OSError:  # best effort: never keep a worker from starting
        pass


def _settings() -> dict:
    """The server's environment variables that steer the engine (data and runs folders, …)."""
    return {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)}


def _adopt(environment: dict) -> None:
    """Take the server's settings as they are now: it may have changed them since the worker started."""
    for key in [k for k in os.environ if k.startswith(ENV_PREFIXES) and k not in environment]:
        del os.environ[key]
    os.environ.update(environment)


def _forget_models() -> None:
    """Drop the finished task's graphs so the next one starts from the same memory."""
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()


class Worker:
    """A handle on one worker process: start it, give it tasks, relay their events.

    The process is `python -m tal.engine.worker FD`, given one end of a socket
    pair: a fresh interpreter that shares nothing with the server and, unlike
    multiprocessing's "spawn", never re-runs the server's `__main__` (Streamlit
    and AppTest point `__main__` at a page script). It stays in the server's
    process group, so stopping the server stops it, and it exits by itself when
    the server's end of the pipe closes.
    """

    def __init__(self):
        import multiprocessing.connection
        import subprocess
        import sys
        from pathlib import Path

        self.conn, child = multiprocessing.connection.Pipe()
        root = str(Path(__file__).resolve().parents[2])  # the folder holding the tal package
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen([sys.executable, "-m", "tal.engine.worker", str(child.fileno())],
                                        pass_fds=[child.fileno()], env=env, stdin=subprocess.DEVNULL)
        child.close()
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def _send(self, message) -> None:
        with self._lock:
            self.conn.send(message)

    def run(self, task, apply, control, *, poll_s: float = 0.05) -> dict:
        """Run `task` in the worker; `apply(kind, value)` gets each event, in order.

        Requests on `control` (stop, λ) are passed on as they appear. Returns
        the outcome; raises `TaskFailed` with the worker's message when the task
        failed, and `WorkerDied` when the process ended under it.
        """
        try:
            self._send(("task", task, _settings()))
        except (OSError, ValueError) as exc:
            raise WorkerDied(_DIED) from exc
        stop_sent = False
        while True:
            if control.stop_requested and not stop_sent:
                self._send_quietly(("stop",))
                stop_sent = True
            value = control.take_aux_weight()
            if value is not None:
                self._send_quietly(("aux_weight", value))
            try:
                if not self.conn.poll(poll_s):
                    if not self.alive():
                        raise WorkerDied(_DIED)
                    continue
                kind, value = self.conn.recv()
            except (EOFError, OSError) as exc:
                raise WorkerDied(_DIED) from exc
            if kind == "done":
                return value
            elif kind == "error":
                raise TaskFailed(value)
            else:
                apply(kind, value)

    def _send_quietly(self, message) -> None:
        try:
            self._send(message)
        except (OSError, ValueError):  # the process is gone; the receive loop reports it
            pass

    def close(self, timeout: float = 5.0) -> None:
        """Ask the worker to quit after its task; kill it if it does not."""
        import subprocess

        self._send_quietly(("quit",))
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)
        self.conn.close()


class TaskFailed(RuntimeError):
    """The task raised in the worker; `event` holds its message, type and traceback."""

    def __init__(self, event: dict):
        super().__init__(event["message"])
        self.event = event


_DIED = ("The training process ended unexpectedly (it was stopped from outside, crashed or ran out of "
         "memory). Nothing of this run was saved. Start it again; if it happens again, try a smaller "
         "batch size or fewer training images.")


def main(argv=None) -> None:
    """`python -m tal.engine.worker FD`: serve tasks on the connection whose file descriptor is FD."""
    import sys
    from multiprocessing.connection import Connection

    args = sys.argv[1:] if argv is None else argv
    _serve(Connection(int(args[0])))


if __name__ == "__main__":
    main()
