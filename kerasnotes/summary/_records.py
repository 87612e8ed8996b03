"""TFRecord framing for the event files of ``Writer``, with a CRC32C written in C.

Each record is::

    uint64 n (little-endian) | uint32 mask(crc(n's 8 bytes)) | data (n bytes) | uint32 mask(crc(data))

where ``crc`` is CRC32C (Castagnoli polynomial 0x1EDC6F41, reflected) and
``mask(c) = (((c >> 15) | (c << 17)) + 0xA282EAD8) mod 2**32``, TensorFlow's
record format, read by TensorBoard's loaders.

tensorboard's ``RecordWriter`` frames records the same way but computes the CRC
in pure Python, about 0.15 µs a byte: 0.1 ms for a scalar's event and most of a
histogram's cost (``benchmarks/README.md``, "Summary writer"). Here the CRC is
``google_crc32c``'s C extension when it is importable; otherwise (the package
missing or built without its C extension) tensorboard's pure-Python CRC, which
is as fast as ``google_crc32c``'s own Python fallback and needs nothing more.
The bytes written are the same either way.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from types import ModuleType
from typing import BinaryIO

from tensorboard.compat.tensorflow_stub import pywrap_tensorflow

_MASK_DELTA = 0xA282EAD8
_UINT32 = 0xFFFFFFFF
_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")


def select_crc32c(module: ModuleType | None) -> tuple[Callable[[bytes], int], str]:
    """The CRC32C function to use and its name: ``"c"`` (google_crc32c) or ``"python"``.

    Args:
        module: the imported ``google_crc32c`` module, or None when it is not installed.
    """
    if module is not None and getattr(module, "implementation", None) == "c":
        return module.value, "c"
    # Pure Python either way; tensorboard's needs no extra package and is as fast.
    return pywrap_tensorflow.crc32c, "python"


def _import_google_crc32c() -> ModuleType | None:
    try:
        import google_crc32c
    except ImportError:
        return None
    return google_crc32c


crc32c, IMPLEMENTATION = select_crc32c(_import_google_crc32c())


def masked_crc32c(data: bytes, crc: Callable[[bytes], int] | None = None) -> int:
    """``mask(crc(data)) = (((c >> 15) | (c << 17)) + 0xA282EAD8) mod 2**32``, c = CRC32C(data).

    Example:
        >>> masked_crc32c(b"")
        2726488792
    """
    value = (crc or crc32c)(data) & _UINT32
    return (((value >> 15) | (value << 17)) + _MASK_DELTA) & _UINT32


def frame(data: bytes, crc: Callable[[bytes], int] | None = None) -> bytes:
    """One record: ``uint64 len | masked crc of it | data | masked crc of data``."""
    header = _LENGTH.pack(len(data))
    return (
        header + _CRC.pack(masked_crc32c(header, crc)) + data + _CRC.pack(masked_crc32c(data, crc))
    )


class RecordFile:
    """Append framed records to an open binary file (``write``, ``flush``, ``close``).

    Args:
        handle: a file object opened for binary writing; ``close`` closes it.
        crc: the CRC32C function (default: the fastest available, ``IMPLEMENTATION``).
    """

    def __init__(self, handle: BinaryIO, crc: Callable[[bytes], int] | None = None) -> None:
        self._handle = handle
        self._crc = crc or crc32c

    def write(self, data: bytes) -> None:
        """Append one record holding ``data``."""
        self._handle.write(frame(data, self._crc))

    def flush(self) -> None:
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    @property
    def closed(self) -> bool:
        return self._handle.closed
