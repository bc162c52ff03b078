"""A quiet TensorFlow import: no C++ start-up lines (oneDNN, CUDA probing, cuInit errors).

TF 2.21 writes those lines from native code before `TF_CPP_MIN_LOG_LEVEL`
applies, so they cannot be filtered in Python: while TensorFlow imports and
probes its devices, the process's stderr (file descriptor 2) points at
/dev/null. Python exceptions still propagate. The CLI, the training worker
and the app's background warm-up import TensorFlow through here.
"""
from __future__ import annotations

import os
import sys
import threading

_lock = threading.Lock()


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and probe its devices with native stderr muted (once per process)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _lock:
        if "tensorflow" in sys.modules:
            return
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            sys.stderr.flush()
            os.dup2(devnull, 2)
            import tensorflow as tf

            tf.config.list_physical_devices()  # the CUDA probe logs here, not at import
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
