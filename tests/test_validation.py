"""kerasnotes._validation: each check accepts its edge values and refuses, in Keras's
wording ("Argument `name` must be ... Received: name=value"), each kind of wrong input."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import keras
import numpy as np
import pytest

from kerasnotes import _validation as v


def _refused(error: type[Exception], check, name: str, value, *args, **kwargs) -> str:
    """Calls ``check(name, value, ...)``, expects ``error`` and returns its message."""
    with pytest.raises(error) as raised:
        check(name, value, *args, **kwargs)
    text = str(raised.value)
    assert type(raised.value) is error
    assert f"Argument `{name}` must be " in text
    assert text.endswith(f"Received: {name}={value!r}")
    return text


def _same(a, b) -> bool:
    return type(a) is type(b) and (a == b or (a != a and b != b))


# ------------------------------------------------------------------------------ message


@pytest.mark.backend_independent
def test_message_is_keras_wording():
    assert v.message("learning_rate", -1, "a finite number >= 0") == (
        "Argument `learning_rate` must be a finite number >= 0. Received: learning_rate=-1"
    )
    # repr, so a string and a number that print alike stay apart.
    assert v.message("every", "2", "an integer").endswith("Received: every='2'")


@pytest.mark.backend_independent
def test_predicates():
    assert [v.is_bool(x) for x in (True, np.bool_(False), 1, 0.0, None)] == [
        True,
        True,
        False,
        False,
        False,
    ]
    assert [v.is_integer(x) for x in (0, -3, np.int8(2), np.uint64(7))] == [True] * 4
    assert [v.is_integer(x) for x in (True, np.bool_(True), 1.0, "1", None)] == [False] * 5
    reals = (0, 1.5, -2.0, np.float16(1), np.float64(2), np.int32(3), np.array(0.5), math.inf)
    assert [v.is_real(x) for x in reals] == [True] * len(reals)
    not_reals = (True, np.bool_(False), "1", None, 1j, np.array([0.5]), np.array(1), [1.0])
    assert [v.is_real(x) for x in not_reals] == [False] * len(not_reals)


def test_a_backend_scalar_tensor_is_a_real_number():
    # A 0-d float tensor (an optimizer's learning_rate read back, say) counts on every backend.
    tensor = keras.ops.convert_to_tensor(0.25, dtype="float32")
    assert v.is_real(tensor)
    assert v.positive_number("learning_rate", tensor) == 0.25
    assert v.in_range("momentum", tensor, 0, 1) == 0.25
    assert not v.is_real(keras.ops.convert_to_tensor([0.25]))
    negative = keras.ops.convert_to_tensor(-0.5, dtype="float32")
    with pytest.raises(ValueError, match="Received: learning_rate="):
        v.non_negative_number("learning_rate", negative)


# ------------------------------------------------------------------------------ numbers


@pytest.mark.backend_independent
def test_real_number():
    for value, expected in [(0, 0.0), (-2, -2.0), (1e308, 1e308), (np.float32(0.5), 0.5)]:
        assert _same(v.real_number("w1", value), expected)
    for bad in (True, "1", None, [1.0], 1j):
        _refused(TypeError, v.real_number, "w1", bad)
    for bad in (math.nan, math.inf, -math.inf, np.float32("inf")):
        _refused(ValueError, v.real_number, "w1", bad)
    # The caller's phrase is used for both errors.
    text = _refused(ValueError, v.real_number, "kappa", math.nan, expected="a finite number >= 1")
    assert "must be a finite number >= 1." in text


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    ("check", "name", "accepted", "refused", "wrong_types", "phrase"),
    [
        (
            v.non_negative_number,
            "gamma",
            [(0, 0.0), (-0.0, -0.0), (np.float64(3.5), 3.5)],
            (-1e-300, -1, -math.inf, math.nan, math.inf),
            (False, "0", None),
            "a finite number >= 0",
        ),
        (
            v.positive_number,
            "epsilon",
            [(5e-324, 5e-324), (1, 1.0)],  # 5e-324: the smallest float > 0
            (0, 0.0, -0.0, -1e-7, math.inf, math.nan),
            (True, "1e-7", None),
            "a finite number > 0",
        ),
    ],
    ids=["non_negative_number", "positive_number"],
)
def test_bounded_numbers(check, name, accepted, refused, wrong_types, phrase):
    for value, expected in accepted:
        assert _same(check(name, value), expected)
    for bad in refused:
        assert phrase in _refused(ValueError, check, name, bad)
    for bad in wrong_types:
        _refused(TypeError, check, name, bad)


@pytest.mark.backend_independent
def test_in_range_ends():
    # [0, 1): 0 in, 1 out; (0, 1]: 0 out, 1 in; [0, 1] both in; (0, 1) neither.
    cases = [
        (dict(), "[0, 1]", (0, 1.0), (-1e-12, 1 + 1e-12)),
        (dict(include_high=False), "[0, 1)", (0.0, 0.999999), (1.0, -0.1)),
        (dict(include_low=False), "(0, 1]", (1e-300, 1), (0.0, 1.5)),
        (dict(include_low=False, include_high=False), "(0, 1)", (0.5,), (0.0, 1.0)),
    ]
    for ends, interval, good, bad in cases:
        for value in good:
            assert _same(v.in_range("rho", value, 0, 1, **ends), float(value))
        for value in (*bad, math.nan):
            text = _refused(ValueError, v.in_range, "rho", value, 0, 1, **ends)
            assert f"a number in {interval}." in text
        _refused(TypeError, v.in_range, "rho", "0.5", 0, 1, **ends)
        _refused(TypeError, v.in_range, "rho", True, 0, 1, **ends)
    # An open upper end: infinity is still refused when the end is excluded.
    assert v.in_range("x", 1e300, 1, math.inf, include_high=False) == 1e300
    _refused(ValueError, v.in_range, "x", math.inf, 1, math.inf, include_high=False)


@pytest.mark.backend_independent
def test_probability():
    assert [v.probability("p", x) for x in (0, 0.5, 1)] == [0.0, 0.5, 1.0]
    for bad in (-0.01, 1.01, math.nan, math.inf):
        assert "a number in [0, 1]." in _refused(ValueError, v.probability, "p", bad)
    _refused(TypeError, v.probability, "p", None)


# ------------------------------------------------------------------------------ integers


@pytest.mark.backend_independent
def test_integer_bounds_and_types():
    assert _same(v.integer("port", np.int64(0), minimum=0, maximum=65535), 0)
    assert _same(v.integer("port", 65535, minimum=0, maximum=65535), 65535)
    assert _same(v.integer("axis", -7), -7)
    assert _same(v.integer("axis", 3, maximum=3), 3)
    for bad, phrase in [
        (-1, "an integer in [0, 65535]"),
        (65536, "an integer in [0, 65535]"),
    ]:
        assert phrase in _refused(ValueError, v.integer, "port", bad, minimum=0, maximum=65535)
    assert "an integer <= 3" in _refused(ValueError, v.integer, "axis", 4, maximum=3)
    for bad in (1.0, True, np.bool_(True), "1", None, np.float64(2)):
        assert "must be an integer." in _refused(TypeError, v.integer, "axis", bad)
    # The wrong-type error can be a ValueError where a released check always raised one.
    _refused(ValueError, v.integer, "every", 2.5, minimum=1, wrong_type=ValueError)


@pytest.mark.backend_independent
def test_positive_and_non_negative_int():
    assert _same(v.positive_int("depth", 1), 1)
    assert _same(v.positive_int("depth", np.int32(10**6)), 10**6)
    assert "an integer >= 1" in _refused(ValueError, v.positive_int, "depth", 0)
    _refused(TypeError, v.positive_int, "depth", 2.5)
    _refused(TypeError, v.positive_int, "depth", True)
    assert _same(v.non_negative_int("seed", 0), 0)
    assert "an integer >= 0" in _refused(ValueError, v.non_negative_int, "seed", -1)
    _refused(TypeError, v.non_negative_int, "seed", "0")


# ------------------------------------------------------------------------------ others


@pytest.mark.backend_independent
def test_boolean():
    assert v.boolean("nesterov", True) is True
    assert v.boolean("nesterov", np.bool_(False)) is False
    for bad in (1, 0, "True", None, 1.0):
        assert "must be True or False." in _refused(TypeError, v.boolean, "nesterov", bad)


@pytest.mark.backend_independent
def test_string():
    assert v.string("monitor", "val_loss") == "val_loss"
    assert v.string("monitor", " ") == " "
    _refused(ValueError, v.string, "monitor", "")
    for bad in (None, 3, b"loss", ["loss"]):
        _refused(TypeError, v.string, "monitor", bad)


@pytest.mark.backend_independent
def test_one_of():
    assert v.one_of("per", "step", ("epoch", "step")) == "step"
    assert v.one_of("lang", "zh", ["en", "zh"]) == "zh"
    assert v.one_of("which", "both", (w for w in ("largest", "both"))) == "both"
    text = _refused(ValueError, v.one_of, "per", "batch", ("epoch", "step"))
    assert "must be one of ('epoch', 'step')." in text
    _refused(ValueError, v.one_of, "per", "Epoch", ("epoch", "step"))  # case matters
    _refused(ValueError, v.one_of, "per", None, ("epoch", "step"))
    # An unhashable value against a set is not allowed, not a crash.
    _refused(ValueError, v.one_of, "mode", ["min"], {"min", "max"})
    assert re.search(
        r"one of \['en', 'zh'\]", _refused(ValueError, v.one_of, "l", "fr", ["en", "zh"])
    )


@pytest.mark.backend_independent
def test_path(tmp_path):
    assert v.path("log_dir", str(tmp_path)) == str(tmp_path)
    assert v.path("log_dir", tmp_path) == os.fspath(tmp_path)
    assert v.path("log_dir", Path("runs"), optional=True) == "runs"
    assert v.path("log_dir", None, optional=True) is None
    text = _refused(TypeError, v.path, "log_dir", None)
    assert "must be a non-empty path (str or os.PathLike)." in text
    for bad in ("", 3, ["runs"]):
        _refused(TypeError, v.path, "log_dir", bad)
    text = _refused(TypeError, v.path, "log_dir", "", optional=True)
    assert "must be None or a non-empty path" in text
