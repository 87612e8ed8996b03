"""One keras-tuner trial execution as a TensorBoard run the HParams dashboard reads.

Internal to ``kerasnotes.tuning``: ``NotesHyperModel.fit`` adds a ``TrialLogger``
to each trial it trains with a ``log_dir`` (it is not in
``kerasnotes.callbacks.__all__``). The run ``<log_dir>/trial_<id>/execution<k>``
holds, through the shared ``kerasnotes.summary.Writer`` of that directory:

```
step 0       _hparams_/session_start_info   the trial's values, group_name = trial id
step epoch   epoch_<key>                    every number in the epoch's Keras logs
             epoch_learning_rate            the optimizer's rate, unless the logs carry it
step 0       _hparams_/session_end_info     STATUS_SUCCESS, or STATUS_FAILURE when a
                                            logged value was NaN/Inf or fit raised
```

Example:
    >>> import os, tempfile
    >>> import keras, numpy as np
    >>> from kerasnotes.callbacks.trial_logger import TrialLogger
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> run = os.path.join(tempfile.mkdtemp(), "trial_00", "execution0")
    >>> logger = TrialLogger(run, "00", {"optimizer": "sgd"})
    >>> _ = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=2, verbose=0, callbacks=[logger])
    >>> logger.finite, logger.writer_closed
    (True, True)
"""

from __future__ import annotations

import logging
import math
import os
import time
from typing import Any

import numpy as np

from kerasnotes import summary
from kerasnotes.summary import hparams
from kerasnotes.summary.layout import TRIAL_SCALAR_PREFIX

from ._common import LoggingCallback, check_log_dir, to_float

_LOG = logging.getLogger(__name__)

#: Subfolder of a trial execution's run where an earlier, unfinished attempt's events go.
INTERRUPTED_DIR = "interrupted"


class TrialLogger(LoggingCallback):
    """Writes one trial execution's HParams session start, per-epoch metrics and session end.

    ```
    on_train_begin:  session start (values, group_name)
    on_epoch_end:    epoch_<key> = logs[key] for each number; epoch_learning_rate
    on_train_end:    session end (success = every logged value was finite)
    ```

    Unlike the other kerasnotes callbacks it writes no ``kerasnotes/run_info``:
    its run is one row of the HParams dashboard, and the session start carries
    what identifies it.

    Args:
        run_dir: the execution's run directory (``<log_dir>/trial_<id>/execution<k>``).
        group_name: the trial's id; the executions of one trial share a dashboard row.
        values: the trial's active hyperparameter values (bool, number or str).
    """

    def __init__(self, run_dir: str | os.PathLike, group_name: str, values: dict[str, Any]) -> None:
        super().__init__(check_log_dir(run_dir, required=True))
        self.group_name = group_name
        self.values = values
        self.finite = True

    @property
    def run_dir(self) -> str:
        """The execution's run directory (the ``log_dir`` of the logging base)."""
        return self.log_dir

    @property
    def writer_closed(self) -> bool:
        """Whether the session has ended (its end written and the run's writer closed)."""
        return self._writer is not None and self._writer.closed

    def _open_writer(self) -> summary.Writer:
        """The run's shared writer, with the session start written once, when first needed."""
        if self._writer is None:
            self._writer = summary.Writer.for_log_dir(self.log_dir)
            self._writer.summary(
                hparams.hparams_session_start_summary(self.values, self.group_name), step=0
            )
            self._writer.flush()
        return self._writer

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._open_writer()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        writer = self._open_writer()
        for key, value in (logs or {}).items():
            try:
                number = float(np.asarray(value, dtype=np.float64).reshape(()))
            except (TypeError, ValueError):
                continue
            if not math.isfinite(number):
                if self.finite:
                    _LOG.warning(
                        "trial %s: %s=%s at epoch %d; the session is marked failed",
                        self.group_name,
                        key,
                        number,
                        epoch,
                    )
                self.finite = False
            writer.scalar(f"{TRIAL_SCALAR_PREFIX}{key}", number, step=epoch)
        if "learning_rate" not in (logs or {}):
            learning_rate = getattr(self.model.optimizer, "learning_rate", None)
            if learning_rate is not None:
                rate = to_float(learning_rate)
                writer.scalar(f"{TRIAL_SCALAR_PREFIX}learning_rate", rate, step=epoch)
        self._flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        self.finish(self.finite)

    def finish(self, success: bool) -> None:
        """Write the session end (once) and close the run's writer.

        Args:
            success: False marks the session failed (a NaN/Inf metric, or fit raised).
        """
        if self._writer is None or self._writer.closed:
            return
        self._writer.summary(hparams.hparams_session_end_summary(success), step=0)
        self._writer.close()


def set_aside_earlier_events(run_dir: str) -> str | None:
    """Move the event files an earlier attempt left in ``run_dir`` aside; return where to.

    ```
    <run>/events.out.tfevents.<t>.<host>.<pid>.<n>
      -> <run>/interrupted/<UTC time>-<pid>/events.out.interrupted.<t>.<host>.<pid>.<n>
    ```

    A resumed search (``overwrite=False``) re-runs a trial that was interrupted,
    and keras-tuner retries a trial whose fit raised; both train the same
    ``trial_<id>/execution<k>`` again. Appending a second event file would give
    that run duplicate steps and two HParams sessions, so the re-run starts in a
    clean run. The earlier attempt is not a completed trial, but nothing is
    deleted: its files are moved, renamed without "tfevents" so that TensorBoard
    no longer reads them (rename them back to look at them).

    Args:
        run_dir: a trial execution's run directory (it may not exist yet).

    Returns:
        The folder the files went to, or None when there were none.

    Example:
        >>> import os, tempfile
        >>> run = tempfile.mkdtemp()
        >>> open(os.path.join(run, "events.out.tfevents.1.host.2.3"), "wb").close()
        >>> aside = set_aside_earlier_events(run)
        >>> os.listdir(aside), [n for n in os.listdir(run) if "tfevents" in n]
        (['events.out.interrupted.1.host.2.3'], [])
    """
    try:
        names = sorted(
            name
            for name in os.listdir(run_dir)
            if "tfevents" in name and os.path.isfile(os.path.join(run_dir, name))
        )
    except FileNotFoundError:
        return None
    if not names:
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = os.path.join(run_dir, INTERRUPTED_DIR, f"{stamp}-{os.getpid()}")
    os.makedirs(aside, exist_ok=True)
    for name in names:
        os.replace(
            os.path.join(run_dir, name),
            os.path.join(aside, name.replace("tfevents", "interrupted")),
        )
    _LOG.warning(
        "%s held events of an earlier, unfinished attempt at this trial; moved them to %s",
        run_dir,
        aside,
    )
    return aside
