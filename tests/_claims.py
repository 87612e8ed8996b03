"""What the claim tests share: the check of a claim's figures."""

from __future__ import annotations

import math


def check_numbers(numbers: dict, may_be_nan=("_stderr",), nan_only=True) -> None:
    """A claim's figures are floats, finite but for the keys holding a ``may_be_nan`` part.

    Those are NaN (``nan_only``: one seed has no spread) or, if not ``nan_only``, NaN or finite.
    """
    for key, value in numbers.items():
        assert isinstance(value, float), key
        if any(part in key for part in may_be_nan):
            assert math.isnan(value) or not nan_only and math.isfinite(value), (key, value)
        else:
            assert math.isfinite(value), (key, value)
