"""CPU time of one ``Writer.scalar`` / ``Writer.histogram``: before and after issue #20.

Three ways to encode the same records, byte for byte the same files
(``tests/test_summary_records.py``):

- ``before``: tensorboard's ``RecordWriter`` (pure-Python CRC32C) and
  ``tensor_util.make_tensor_proto``, what ``Writer`` used before issue #20;
- ``python crc``: kerasnotes' framing (``_records.RecordFile``) and protos
  (``_tensor.float_tensor``) with the fallback CRC (used when
  ``google_crc32c``'s C extension is missing);
- ``C crc``: the same with ``google_crc32c``'s C CRC (the default).

Rows of one table are measured in one process, interleaved round by round (one
round = ``--calls`` calls of each kind on each framing, in an order that rotates
every round), and every figure is the median over ``--rounds`` rounds of
``process_time`` per call in µs. "inspector epoch" is what OptimizerInspector
writes per epoch at its defaults: 12 scalars and 6 histograms of 8,192 values.

Run: ``python benchmarks/bench_summary_writer.py [--rounds 15] [--calls 200] [--write-readme]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import _table
import numpy as np
from tensorboard.compat.tensorflow_stub import pywrap_tensorflow
from tensorboard.summary.writer.record_writer import RecordWriter
from tensorboard.util import tensor_util

from kerasnotes.summary import Writer, _records, _tensor
from kerasnotes.summary import writer as writer_module

VALUES = np.random.default_rng(0).normal(size=8192)


def _legacy_tensor(array: np.ndarray):
    return tensor_util.make_tensor_proto(array, dtype=array.dtype)


def _variants() -> dict[str, tuple]:
    """name -> (record framing around the open handle, float TensorProto builder)."""
    variants = {
        "before": (RecordWriter, _legacy_tensor),
        "python crc": (
            lambda handle: _records.RecordFile(handle, crc=pywrap_tensorflow.crc32c),
            _tensor.float_tensor,
        ),
    }
    if _records.IMPLEMENTATION == "c":
        variants["C crc"] = (_records.RecordFile, _tensor.float_tensor)
    return variants


def _calls(writer: Writer, kind: str, count: int) -> None:
    for step in range(count):
        if kind == "scalar":
            writer.scalar("loss", 0.25, step=step)
        elif kind == "histogram":
            writer.histogram("weights", VALUES, step=step)
        elif kind == "frame only (scalar-sized)":
            writer._records.write(b"x" * 60)
        else:  # one OptimizerInspector epoch: 12 scalars, 6 histograms
            for index in range(12):
                writer.scalar(f"s{index}", 0.25, step=step)
            for index in range(6):
                writer.histogram(f"h{index}", VALUES, step=step)


def measure(rounds: int, calls: int) -> dict[tuple[str, str], float]:
    kinds = ["scalar", "histogram", "frame only (scalar-sized)", "inspector epoch"]
    variants = _variants()
    samples: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as root:
        writers = {}
        for index, (name, (framing, _)) in enumerate(variants.items()):
            writer = Writer(os.path.join(root, str(index)))
            writer._records = framing(writer._records._handle)
            writers[name] = writer
        names = list(writers)
        for kind in kinds:
            count = max(1, calls // 18) if kind == "inspector epoch" else calls
            for name, writer in writers.items():  # warm-up: tag metadata, caches
                writer_module.float_tensor = variants[name][1]
                _calls(writer, kind, 2)
            for repeat in range(rounds):
                shift = repeat % len(names)
                for name in names[shift:] + names[:shift]:
                    writer_module.float_tensor = variants[name][1]
                    start = time.process_time()
                    _calls(writers[name], kind, count)
                    elapsed = time.process_time() - start
                    samples.setdefault((kind, name), []).append(elapsed / count * 1e6)
        writer_module.float_tensor = _tensor.float_tensor
        for writer in writers.values():
            writer.close()
    return {key: statistics.median(values) for key, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=200)
    _table.add_flag(parser)
    args = parser.parse_args()
    if args.rounds < 1 or args.calls < 1:
        parser.error("--rounds and --calls must be positive")
    load = os.getloadavg()
    with _table.tables("summary_writer", args.write_readme):
        results = measure(args.rounds, args.calls)
        names = list(_variants())
        print(f"median CPU µs per call over {args.rounds} interleaved rounds")
        print(f"(load average {load[0]:.1f} at the start; CRC32C: {_records.IMPLEMENTATION})\n")
        print("| call | " + " | ".join(names) + " | before / after |")
        print("|---|" + "---|" * (len(names) + 1))
        kinds = dict.fromkeys(kind for kind, _ in results)
        for kind in kinds:
            row = [results[(kind, name)] for name in names]
            cells = " | ".join(f"{value:,.1f}" for value in row)
            print(f"| {kind} | {cells} | {row[0] / row[-1]:.1f}× |")


if __name__ == "__main__":
    main()
