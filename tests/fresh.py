"""Python in a fresh interpreter: the CLI, saved scripts and one-liners, run as a user would run them."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def python(*args, cwd=REPO, tal_importable: bool = True, env_extra: dict | None = None,
           timeout: float = 600) -> subprocess.CompletedProcess:
    """`python *args` in `cwd`, output captured as text; tal imports from this checkout unless
    `tal_importable` is False (as for a user who has not installed it). TensorFlow's start-up log
    is silenced unless `env_extra` sets TF_CPP_MIN_LOG_LEVEL."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if tal_importable:
        env["PYTHONPATH"] = str(REPO)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
