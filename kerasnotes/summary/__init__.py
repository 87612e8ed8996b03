"""TensorBoard output without TensorFlow: the event writer, the tag layout, the HParams records.

- ``kerasnotes.summary.writer``: ``Writer``, event files through the ``tensorboard``
  package's own protos and record writer, on every backend.
- ``kerasnotes.summary.histogram``: the equal-width buckets ``Writer.histogram`` writes.
- ``kerasnotes.summary.layout``: every tag name and tensor layout the callbacks
  write and the kerasnotes TensorBoard plugin reads (the contract between them).
- ``kerasnotes.summary.hparams``: the HParams dashboard's experiment and session
  records, as the keras-tuner searches of ``kerasnotes.tuning`` write them.

The writer and the layout's names are importable from here, as before the split.

Example:
    >>> import tempfile
    >>> from kerasnotes import summary
    >>> writer = summary.Writer.for_log_dir(tempfile.mkdtemp())
    >>> writer.scalar(summary.TAG_LEARNING_RATE, 0.01, step=0)
    >>> writer.tensor(summary.TAG_CRITICAL_POINT, [3, 0.0, -2, 2, 0.5, 1, 1, 0.2, 40, 0.1], step=0)
    >>> writer.flush()
"""

from __future__ import annotations

from kerasnotes.summary import layout

# Every name of the layout (layout.__all__) is importable from here too.
from kerasnotes.summary.layout import *  # noqa: F403
from kerasnotes.summary.writer import DEFAULT_HISTOGRAM_BUCKETS, Writer

__all__ = ["DEFAULT_HISTOGRAM_BUCKETS", "Writer", *layout.__all__]
