"""The `tal.TrainingCallback` that feeds a `TrainingJob`'s live state.

Imported inside the training thread only (it imports Keras), so pages that
merely show a job do not pay for the TensorFlow import.
"""

from __future__ import annotations

from tal.engine.callbacks import Progress, TrainingCallback


class JobRecorder(TrainingCallback):
    """Appends every `Progress` to the job; the page's fragment reads them."""

    def __init__(self, job):
        self.job = job

    def on_train_begin(self, info: dict) -> None:
        self.job.info = info
        self.job.status = "training"

    def on_batch_end(self, progress: Progress) -> None:
        self.job.batches.append(progress.to_dict())
        if progress.step >= progress.total_steps or self.job.stop_requested:
            self.job.status = "finishing"

    def on_epoch_end(self, progress: Progress) -> None:
        self.job.epochs.append(progress.to_dict())

    def on_phase(self, progress: Progress) -> None:
        self.job.phase = progress.phase

    def on_snapshot(self, snapshot: dict) -> None:
        self.job.snapshot = snapshot  # only the newest: the page shows the maps as they are now

    def on_train_end(self, result) -> None:
        self.job.status = "finishing"
