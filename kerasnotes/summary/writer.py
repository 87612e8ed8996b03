"""``Writer``: TensorBoard event files without TensorFlow.

``Writer`` encodes events with the ``tensorboard`` package's own protos and
frames them as TFRecords (length + masked CRC32C, ``kerasnotes.summary._records``,
byte for byte what tensorboard's ``RecordWriter`` writes, with a C CRC32C), so
logs work the same under the TensorFlow, JAX and PyTorch backends and never
import TensorFlow.
(``tensorboard``'s ``EventFileWriter`` is not used because it creates its file
through ``tensorboard.compat.tf``, which imports TensorFlow whenever it is
installed.)

The tags and tensor layouts it is used with are in ``kerasnotes.summary.layout``.

Example:
    >>> import tempfile
    >>> from kerasnotes.summary import layout
    >>> from kerasnotes.summary.writer import Writer
    >>> writer = Writer.for_log_dir(tempfile.mkdtemp())
    >>> writer.scalar(layout.TAG_LEARNING_RATE, 0.01, step=0)
    >>> writer.flush()
"""

from __future__ import annotations

import atexit
import functools
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2
from tensorboard.plugins.histogram import metadata as histogram_metadata
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar import metadata as scalar_metadata
from tensorboard.plugins.text import metadata as text_metadata
from tensorboard.util import tensor_util

from kerasnotes import _validation
from kerasnotes.summary import histogram
from kerasnotes.summary._records import RecordFile
from kerasnotes.summary._tensor import float_tensor
from kerasnotes.summary.histogram import DEFAULT_HISTOGRAM_BUCKETS
from kerasnotes.summary.layout import PLUGIN_NAME

__all__ = ["DEFAULT_HISTOGRAM_BUCKETS", "Writer"]

_TENSOR = summary_pb2.DATA_CLASS_TENSOR


def _check_tag(tag: Any) -> str:
    # TypeError for "" too (not _validation.string's ValueError): released behaviour.
    if not isinstance(tag, str) or not tag:
        raise TypeError(_validation.message("tag", tag, "a non-empty string"))
    return tag


def _real_array(name: str, values: Any) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(_validation.message(name, values, "real numbers")) from error


def _plugin_metadata(plugin_name: Any, description: str | None) -> summary_pb2.SummaryMetadata:
    """Metadata of a TENSOR value owned by ``plugin_name`` (``"kerasnotes"`` for the layout)."""
    if not isinstance(plugin_name, str) or not plugin_name:
        raise TypeError(_validation.message("plugin_name", plugin_name, "a non-empty string"))
    return summary_pb2.SummaryMetadata(
        summary_description=description or "",
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin_name),
        data_class=_TENSOR,
    )


class Writer:
    """Append TensorBoard summaries (scalar, histogram, tensor, text, image) to an event file.

    Each Writer owns one event file ``events.out.tfevents.<time>.<host>.<pid>.<n>``
    in ``log_dir``; every record is a serialised ``Event`` proto framed as a
    TFRecord::

        uint64 length | uint32 masked_crc32c(length) | bytes event | uint32 masked_crc32c(event)

    Callbacks share one Writer per directory through ``Writer.for_log_dir``.
    Writes are thread safe; ``flush`` and ``close`` may be called any number of
    times. Unlike ``tf.summary.create_file_writer`` it needs no TensorFlow and no
    default-writer context: the step is always explicit.

    A file deleted while the Writer is open (its ``log_dir`` removed between two
    fits in one process) would otherwise swallow every later record without an
    error: the first write after each ``flush`` (and ``for_log_dir``) checks that
    the file still exists and, if it does not, starts a fresh event file in the
    same ``log_dir`` (``reopened`` counts how often). One ``os.path.exists`` per
    flush interval costs a small fraction of one scalar written (``benchmarks/README.md``).

    Args:
        log_dir: directory of the run; created if missing. A path that cannot be
            created or written raises ``ValueError`` here, not at the first write.
        filename_suffix: appended to the event file's name.

    Example:
        >>> import tempfile
        >>> from kerasnotes.summary import Writer
        >>> with Writer(tempfile.mkdtemp()) as writer:
        ...     writer.scalar("loss", 0.25, step=1)
        ...     writer.histogram("weights", [0.1, 0.2, 0.2, 0.4], step=1)
        ...     writer.text("notes", "**hello**", step=0)
    """

    _shared: dict[str, Writer] = {}
    _shared_lock = threading.Lock()
    _file_counter = 0

    def __init__(self, log_dir: str | os.PathLike, filename_suffix: str = "") -> None:
        log_dir = _validation.path("log_dir", log_dir)
        if not isinstance(filename_suffix, str):
            raise TypeError(_validation.message("filename_suffix", filename_suffix, "a str"))
        self._suffix = filename_suffix
        self.log_dir = log_dir
        self._lock = threading.Lock()
        self._closed = False
        self._tags_with_metadata: set[str] = set()
        self._check_file = False
        self.reopened = 0
        self._open_file()

    def _open_file(self) -> None:
        """Create a new event file in ``log_dir`` (and the directory if it is gone)."""
        try:
            os.makedirs(self.log_dir, exist_ok=True)
            with Writer._shared_lock:
                Writer._file_counter += 1
                counter = Writer._file_counter
            name = (
                f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}"
                f".{os.getpid()}.{counter}{self._suffix}"
            )
            path = os.path.join(self.log_dir, name)
            handle = open(path, "wb")  # closed by close()
        except OSError as error:
            raise ValueError(
                _validation.message(
                    "log_dir",
                    self.log_dir,
                    "a directory you can create files in; it is not a writable directory "
                    f"({error.strerror or error})",
                )
            ) from error
        self.path = path
        self._records = RecordFile(handle)
        # A new file: TensorBoard needs each tag's metadata again, in this file.
        self._tags_with_metadata = set()
        self._records.write(
            event_pb2.Event(
                wall_time=time.time(),
                file_version="brain.Event:2",
                source_metadata=event_pb2.SourceMetadata(writer="kerasnotes.summary"),
            ).SerializeToString()
        )
        self._records.flush()

    def _reopen_if_gone(self) -> None:
        """Start a fresh event file when ours was deleted (e.g. its log_dir was removed).

        Called with ``self._lock`` held. An open handle on a deleted file keeps
        accepting writes that no reader will ever see, so the records would be
        lost without an error.
        """
        if self._closed or os.path.exists(self.path):
            return
        try:
            self._records.close()
        except OSError:  # the old handle is unusable either way; its data is gone with the file
            pass
        self._open_file()
        self.reopened += 1

    @classmethod
    def for_log_dir(cls, log_dir: str | os.PathLike) -> Writer:
        """The Writer shared by everything that logs to ``log_dir`` (a new one if closed).

        Args:
            log_dir: directory of the run.

        Example:
            >>> import tempfile
            >>> from kerasnotes.summary import Writer
            >>> path = tempfile.mkdtemp()
            >>> Writer.for_log_dir(path) is Writer.for_log_dir(path)
            True
        """
        log_dir = _validation.path("log_dir", log_dir)
        key = os.path.realpath(os.path.abspath(log_dir))
        with cls._shared_lock:
            writer = cls._shared.get(key)
        if writer is not None and not writer.closed:
            with writer._lock:
                # A later fit after its log_dir was removed gets a fresh file, and
                # has_written() then answers for that file.
                writer._reopen_if_gone()
            return writer
        writer = cls(log_dir)
        with cls._shared_lock:
            current = cls._shared.get(key)
            if current is not None and not current.closed:
                writer.close()
                return current
            cls._shared[key] = writer
        return writer

    @classmethod
    def for_logdir(cls, log_dir: str | os.PathLike) -> Writer:
        """Deprecated spelling of :meth:`for_log_dir`, kept for one more release."""
        warnings.warn(
            "Writer.for_logdir is deprecated and will be removed in the next release; use "
            "Writer.for_log_dir (log_dir is the spelling of keras.callbacks.TensorBoard)",
            DeprecationWarning,
            stacklevel=2,
        )
        return cls.for_log_dir(log_dir)

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._closed

    def has_written(self, tag: str) -> bool:
        """Whether this Writer already wrote ``tag`` (e.g. to write run info only once)."""
        return tag in self._tags_with_metadata

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __deepcopy__(self, memo: dict) -> Writer:
        # An open file cannot be copied; copies of a callback share the writer.
        return self

    def _raise_if_closed(self) -> None:
        if self._closed:
            raise ValueError(
                f"this Writer for log_dir={self.log_dir!r} is closed; "
                "use Writer.for_log_dir(log_dir) to get an open one"
            )

    def _prepare_write(self) -> None:
        """Called with ``self._lock`` held before each record: closed? file still there?"""
        self._raise_if_closed()
        if self._check_file:
            # Once per flush interval: a stat costs far less than one scalar
            # (benchmarks/README.md).
            self._check_file = False
            self._reopen_if_gone()

    def _write_event(self, event: event_pb2.Event) -> None:
        with self._lock:
            self._prepare_write()
            self._records.write(event.SerializeToString())

    def _write_value(
        self,
        tag: str,
        step: int,
        metadata: summary_pb2.SummaryMetadata | Callable[[], summary_pb2.SummaryMetadata],
        data_class: int,
        tensor: tensor_pb2.TensorProto,
    ) -> None:
        """One value, ``tensor``, with ``metadata`` (or its factory) if ``tag`` is new in the file."""
        with self._lock:
            self._prepare_write()
            value = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
            # TensorBoard keeps the metadata of a tag's first value in each file;
            # later values skip building it (a factory is called only here).
            if tag not in self._tags_with_metadata:
                value.metadata.CopyFrom(metadata() if callable(metadata) else metadata)
                value.metadata.data_class = data_class
                self._tags_with_metadata.add(tag)
            summary = summary_pb2.Summary(value=[value])
            event = event_pb2.Event(wall_time=time.time(), step=step, summary=summary)
            self._records.write(event.SerializeToString())

    def scalar(
        self,
        tag: str,
        value: float,
        step: int,
        description: str | None = None,
        display_name: str | None = None,
    ) -> None:
        """Write one float32 scalar (plugin "scalars", data class SCALAR).

        Args:
            tag: the series' name, e.g. ``TAG_LEARNING_RATE``.
            value: a real number (NaN and Inf are written as they are).
            step: the x-axis value.
            description: markdown shown beside the chart.
            display_name: title shown instead of the tag.
        """
        tag, step = _check_tag(tag), _validation.integer("step", step)
        try:
            number = float(np.asarray(value, dtype=np.float64).reshape(()))
        except (TypeError, ValueError) as error:
            raise TypeError(_validation.message("value", value, "a real number")) from error
        metadata = functools.partial(
            scalar_metadata.create_summary_metadata,
            display_name=display_name or "",
            description=description or "",
        )
        scalar = summary_pb2.DATA_CLASS_SCALAR
        self._write_value(tag, step, metadata, scalar, float_tensor(np.float32(number)))

    def histogram(
        self,
        tag: str,
        values: Iterable[float] | np.ndarray,
        step: int,
        buckets: int = DEFAULT_HISTOGRAM_BUCKETS,
        description: str | None = None,
    ) -> None:
        """Write a histogram of ``values`` (plugin "histograms": ``histogram.buckets``' table).

        Args:
            tag: the histogram's name.
            values: numbers of any shape.
            step: the x-axis value.
            buckets: k, a positive int.
            description: markdown shown beside the chart.
        """
        tag, step = _check_tag(tag), _validation.integer("step", step)
        # ValueError for a non-integer too: released behaviour, kept for callers that catch it.
        buckets = _validation.integer("buckets", buckets, minimum=1, wrong_type=ValueError)
        table = histogram.buckets(_real_array("values", values).reshape(-1), int(buckets))
        metadata = functools.partial(
            histogram_metadata.create_summary_metadata,
            display_name="",
            description=description or "",
        )
        self._write_value(tag, step, metadata, _TENSOR, float_tensor(table))

    def tensor(
        self,
        tag: str,
        values: Iterable[float] | np.ndarray,
        step: int,
        description: str | None = None,
        plugin_name: str = PLUGIN_NAME,
    ) -> None:
        """Write a float64 array (plugin ``"kerasnotes"``, data class TENSOR).

        Args:
            tag: e.g. ``TAG_CRITICAL_POINT`` (see the module docstring for shapes).
            values: real numbers of any shape; NaN marks "not measured".
            step: the x-axis value.
            description: markdown for the plugin.
            plugin_name: owner of the data; ``"kerasnotes"`` for the layout above.
        """
        tag, step = _check_tag(tag), _validation.integer("step", step)
        metadata = _plugin_metadata(plugin_name, description)
        array = _real_array("values", values)
        self._write_value(tag, step, metadata, _TENSOR, float_tensor(array))

    def strings(
        self,
        tag: str,
        values: Iterable[str],
        step: int,
        description: str | None = None,
        plugin_name: str = PLUGIN_NAME,
    ) -> None:
        """Write a 1-D array of UTF-8 strings (plugin ``"kerasnotes"``, data class TENSOR).

        Names that go with a numeric ``tensor`` row by row, e.g. the layer names
        of ``kerasnotes/layer_curvature/names`` beside ``kerasnotes/layer_curvature``;
        read back as bytes (``tensor_util.make_ndarray`` gives an object array).

        Args:
            tag: e.g. ``TAG_LAYER_NAMES``.
            values: strings, in the order of the rows they name.
            step: the x-axis value.
            description: markdown for the plugin.
            plugin_name: owner of the data; ``"kerasnotes"`` for the layout.

        Example:
            >>> import tempfile
            >>> from kerasnotes.summary import Writer
            >>> with Writer(tempfile.mkdtemp()) as writer:
            ...     writer.strings("names", ["dense", "dense_1"], step=0)
        """
        tag, step = _check_tag(tag), _validation.integer("step", step)
        metadata = _plugin_metadata(plugin_name, description)
        if isinstance(values, (str, bytes)):
            raise TypeError(_validation.message("values", values, "a sequence of strings"))
        items = list(values)
        if not all(isinstance(item, str) for item in items):
            raise TypeError(_validation.message("values", items, "a sequence of strings"))
        encoded = np.array([item.encode("utf-8") for item in items], dtype=np.object_)
        tensor = tensor_util.make_tensor_proto(encoded, dtype=np.object_, shape=[len(items)])
        self._write_value(tag, step, metadata, _TENSOR, tensor)

    def text(self, tag: str, markdown: str, step: int = 0) -> None:
        """Write a markdown string (plugin "text").

        Args:
            tag: e.g. ``TAG_RUN_INFO``.
            markdown: the text, rendered as markdown by the Text dashboard.
            step: the x-axis value.
        """
        tag, step = _check_tag(tag), _validation.integer("step", step)
        if not isinstance(markdown, str):
            raise TypeError(_validation.message("markdown", markdown, "a str"))
        metadata = text_metadata.create_summary_metadata(display_name="", description="")
        text = markdown.encode("utf-8")
        self._write_value(tag, step, metadata, _TENSOR, tensor_util.make_tensor_proto(text))

    def image(self, tag: str, png: bytes, width: int, height: int, step: int) -> None:
        """Write one PNG image (plugin "images", data class BLOB_SEQUENCE).

        The value is TensorBoard's image layout, a string tensor
        ``[width, height, png bytes]``, so the stock Images dashboard shows it.

        Args:
            tag: the image's name.
            png: PNG-encoded bytes.
            width: the image's width in pixels, a positive int.
            height: the image's height in pixels, a positive int.
            step: the x-axis value.
        """
        tag, step = _check_tag(tag), _validation.integer("step", step)
        if not isinstance(png, (bytes, bytearray)) or not bytes(png).startswith(b"\x89PNG"):
            # The bytes themselves would flood the message: their type says enough.
            raise TypeError(
                f"Argument `png` must be PNG-encoded bytes. Received: a {type(png).__name__}"
            )
        for name, size in (("width", width), ("height", height)):
            # ValueError for a non-integer too: released behaviour.
            _validation.integer(name, size, minimum=1, wrong_type=ValueError)
        metadata = image_metadata.create_summary_metadata(
            display_name="", description="", converted_to_tensor=True
        )
        blobs = [str(int(width)).encode(), str(int(height)).encode(), bytes(png)]
        blob = summary_pb2.DATA_CLASS_BLOB_SEQUENCE
        tensor = tensor_util.make_tensor_proto(blobs, dtype=np.object_)
        self._write_value(tag, step, metadata, blob, tensor)

    def summary(self, summary: summary_pb2.Summary, step: int) -> None:
        """Append a ready-made ``Summary`` proto whose values carry their own metadata.

        For summaries other plugins define, such as the HParams dashboard's
        session records; the other methods build metadata themselves.

        Args:
            summary: a ``tensorboard.compat.proto.summary_pb2.Summary``.
            step: the x-axis value.
        """
        step = _validation.integer("step", step)
        if not isinstance(summary, summary_pb2.Summary):
            raise TypeError(
                "Argument `summary` must be a tensorboard Summary proto. "
                f"Received: a {type(summary).__name__}"
            )
        self._write_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))

    def flush(self) -> None:
        """Push buffered records to disk; a no-op once closed."""
        with self._lock:
            if not self._closed:
                self._records.flush()
                # The next write checks that the file still exists (see _reopen_if_gone).
                self._check_file = True

    def close(self) -> None:
        """Flush and close the file; later calls do nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._records.flush()
            self._records.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"Writer(log_dir={self.log_dir!r}, {state})"


@atexit.register
def _close_shared_writers() -> None:
    # Shared writers stay open across fits; push their last records at exit.
    with Writer._shared_lock:
        writers = list(Writer._shared.values())
    for writer in writers:
        writer.close()
