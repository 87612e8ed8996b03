"""Read back what a test wrote to TensorBoard: as its data provider serves it, or by hand."""

from __future__ import annotations

import struct
from pathlib import Path


def read(log_dir, kind: str = "scalars", plugin: str = "scalars") -> dict:
    """The one run under ``log_dir``: tag -> its points (``kind`` "scalars" or "tensors")."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer

    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(log_dir))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(log_dir))
    read_kind = provider.read_scalars if kind == "scalars" else provider.read_tensors
    (run,) = read_kind(
        context.RequestContext(), experiment_id="", plugin_name=plugin, downsample=100
    ).values()
    return run


def events(run_dir):
    """Every ``Event`` in a run's event files, the TFRecord framing read by hand (no TensorFlow).

    A record is an 8-byte length, a 4-byte CRC of it, the data, a 4-byte CRC of the data.
    """
    from tensorboard.compat.proto import event_pb2

    for path in sorted(Path(run_dir).glob("events.out.tfevents.*")):
        data, offset = path.read_bytes(), 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            yield event_pb2.Event.FromString(data[offset + 12 : offset + 12 + length])
            offset += 12 + length + 4


def float_scalars(run_dir) -> dict[str, list[tuple[int, float]]]:
    """tag -> (step, value) of every float32 scalar in the run's event files."""
    from tensorboard.util import tensor_util

    found: dict[str, list[tuple[int, float]]] = {}
    for event in events(run_dir):
        for value in event.summary.value:
            if value.tensor.dtype == 1 and not value.tensor.tensor_shape.dim:
                number = float(tensor_util.make_ndarray(value.tensor))
                found.setdefault(value.tag, []).append((event.step, number))
    return found


def tensors(run_dir, tag: str) -> list:
    """Every value of one tensor ``tag`` in the run's event files, as numpy arrays."""
    from tensorboard.util import tensor_util

    return [
        tensor_util.make_ndarray(value.tensor)
        for event in events(run_dir)
        for value in event.summary.value
        if value.tag == tag
    ]
