"""The Writer's TFRecord framing (kerasnotes.summary._records) against tensorboard's own.

Backend independent: the framing is bytes and NumPy, no Keras backend is used.
"""

from __future__ import annotations

import io
import os
import types

import numpy as np
import pytest
from tensorboard.compat.tensorflow_stub import errors, pywrap_tensorflow
from tensorboard.summary.writer.record_writer import RecordWriter

from kerasnotes.summary import Writer, _records

pytestmark = pytest.mark.backend_independent

# Known CRC32C values (RFC 3720, B.4; the "123456789" check value of the Castagnoli CRC).
_KNOWN = [
    (b"", 0x00000000),
    (b"123456789", 0xE3069283),
    (bytes(32), 0x8A9136AA),
    (b"\xff" * 32, 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E),
]


@pytest.mark.parametrize(("data", "expected"), _KNOWN)
def test_crc32c_matches_the_published_check_values(data, expected):
    assert _records.crc32c(data) == expected
    assert pywrap_tensorflow.crc32c(data) == expected


def test_the_fast_crc32c_is_the_c_extension_when_installed():
    google_crc32c = pytest.importorskip("google_crc32c")
    crc, name = _records.select_crc32c(google_crc32c)
    assert name == google_crc32c.implementation
    if google_crc32c.implementation == "c":
        assert crc is google_crc32c.value
        assert _records.IMPLEMENTATION == "c"


@pytest.mark.parametrize(
    "module",
    [None, types.SimpleNamespace(implementation="python", value=None)],
    ids=["missing", "python-only build"],
)
def test_without_the_c_extension_the_fallback_is_tensorboards_crc(module):
    crc, name = _records.select_crc32c(module)
    assert name == "python"
    assert crc is pywrap_tensorflow.crc32c
    assert crc(b"123456789") == 0xE3069283


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 255, 256, 4096, 70_000])
def test_records_are_byte_identical_to_tensorboards_record_writer(size):
    data = np.random.default_rng(size).bytes(size)
    ours, theirs = io.BytesIO(), io.BytesIO()
    _records.RecordFile(ours).write(data)
    RecordWriter(theirs).write(data)
    assert ours.getvalue() == theirs.getvalue()
    assert len(ours.getvalue()) == size + 16
    # Both CRCs give the same record: the fallback writes the same bytes.
    slow = io.BytesIO()
    _records.RecordFile(slow, crc=pywrap_tensorflow.crc32c).write(data)
    assert slow.getvalue() == theirs.getvalue()


def test_masked_crc_matches_tensorboards_mask():
    for data, _ in _KNOWN:
        assert _records.masked_crc32c(data) == pywrap_tensorflow.masked_crc32c(data)
    assert _records.masked_crc32c(b"") == 0xA282EAD8


def _payloads(path: str) -> list[bytes]:
    """Every record's data, read with tensorboard's own reader, which checks both CRCs."""
    reader = pywrap_tensorflow.PyRecordReader_New(path)
    payloads = []
    while True:
        try:
            reader.GetNext()
        except errors.OutOfRangeError:
            return payloads
        payloads.append(reader.record())


def test_a_writer_file_is_what_record_writer_writes_for_the_same_events(tmp_path):
    with Writer(tmp_path) as writer:
        writer.scalar("loss", 0.25, step=1)
        writer.histogram("weights", np.linspace(-1.0, 1.0, 8192), step=1)
        writer.tensor("kerasnotes/x", [[1.0, np.nan], [3.0, 4.0]], step=2)
        writer.text("notes", "**hello** 世界", step=0)
        path = writer.path
    payloads = _payloads(path)
    assert len(payloads) == 5  # the file-version event and four values
    again = io.BytesIO()
    record_writer = RecordWriter(again)
    for payload in payloads:
        record_writer.write(payload)
    with open(path, "rb") as handle:
        assert handle.read() == again.getvalue()


def test_tensorboards_loader_reads_the_values_back_and_rejects_a_corrupted_crc(tmp_path):
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.util import tensor_util

    with Writer(tmp_path / "run") as writer:
        for step in range(3):
            writer.scalar("loss", 1.0 / (step + 1), step=step)
        path = writer.path
    events = list(event_file_loader.LegacyEventFileLoader(path).Load())
    values = [
        (event.step, float(tensor_util.make_ndarray(value.tensor)))
        for event in events
        for value in event.summary.value
    ]
    assert values == [(0, 1.0), (1, 0.5), (2, pytest.approx(1.0 / 3.0))]

    # One flipped bit in the last record's data: tensorboard's reader must refuse it,
    # so the CRCs it accepted above were checked, not ignored.
    with open(path, "rb") as handle:
        content = bytearray(handle.read())
    content[-6] ^= 0x01
    broken = os.path.join(tmp_path, "broken")
    with open(broken, "wb") as handle:
        handle.write(bytes(content))
    with pytest.raises(errors.DataLossError, match="crc32 check"):
        _payloads(broken)


@pytest.mark.parametrize(
    "array",
    [
        np.float32(0.25),
        np.float32(np.nan),
        np.array(-np.inf, dtype=np.float64),
        np.zeros((0,), dtype=np.float64),
        np.array([1.5], dtype=np.float64),
        np.array([[1.0, np.nan, 3.0], [4.0, 5.0, -0.0]]),
        np.arange(12, dtype=np.float64).reshape(3, 4).T,  # not C-contiguous
        np.linspace(-1.0, 1.0, 90, dtype=np.float32).reshape(30, 3),
    ],
    ids=["f32 scalar", "nan", "-inf 0-d", "empty", "one", "2x3", "transposed", "f32 30x3"],
)
def test_float_tensor_serialises_as_make_tensor_proto_does(array):
    from tensorboard.util import tensor_util

    from kerasnotes.summary._tensor import float_tensor

    ours = float_tensor(array)
    theirs = tensor_util.make_tensor_proto(array, dtype=array.dtype)
    assert ours.SerializeToString() == theirs.SerializeToString()
    np.testing.assert_array_equal(tensor_util.make_ndarray(ours), array)


def test_float_tensor_rejects_other_dtypes():
    from kerasnotes.summary._tensor import float_tensor

    with pytest.raises(TypeError, match="`array` must be float32 or float64"):
        float_tensor(np.arange(3))
