"""``TensorProto`` of a float32 / float64 array without ``tensor_util.make_tensor_proto``.

``make_tensor_proto`` is general (any dtype, Python lists, shape checks) and
costs tens of µs a call, most of a scalar's write once the CRC is in C
(``benchmarks/README.md``, "Summary writer"). For a C-ordered float array it
builds, and this function builds the same proto, serialised byte for byte
alike (``tests/test_summary_records.py``)::

    dtype = DT_FLOAT | DT_DOUBLE, tensor_shape = [d_1, ..., d_k],
    tensor_content = the array's bytes          if it holds more than one value,
    float_val / double_val = [the value]         otherwise (a scalar, or empty).
"""

from __future__ import annotations

import numpy as np
from tensorboard.compat.proto import tensor_pb2, tensor_shape_pb2, types_pb2

_DTYPES = {
    np.dtype(np.float32): (types_pb2.DT_FLOAT, "float_val"),
    np.dtype(np.float64): (types_pb2.DT_DOUBLE, "double_val"),
}
_Dim = tensor_shape_pb2.TensorShapeProto.Dim


def float_tensor(array: np.ndarray) -> tensor_pb2.TensorProto:
    """The TensorProto of a float32 or float64 ``array`` (as ``make_tensor_proto`` gives it).

    Args:
        array: a NumPy array of dtype float32 or float64, any shape.

    Example:
        >>> import numpy as np
        >>> float_tensor(np.float32(0.5)).float_val[0]
        0.5
    """
    array = np.asarray(array)
    if array.dtype not in _DTYPES:
        raise TypeError(f"Argument `array` must be float32 or float64. Received: {array.dtype}")
    dtype, field = _DTYPES[array.dtype]
    proto = tensor_pb2.TensorProto(
        dtype=dtype,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[_Dim(size=n) for n in array.shape]),
    )
    if array.size > 1:
        # Row-major bytes, as TensorFlow reads tensor_content.
        proto.tensor_content = np.ascontiguousarray(array).tobytes()
    else:
        getattr(proto, field).extend(array.ravel().tolist())
    return proto
