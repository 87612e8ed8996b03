"""The one classification rule (kerasnotes.curvature.classify) and everything that states it."""

from __future__ import annotations

import re

import pytest

from kerasnotes.curvature import classify


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.mark.parametrize(
    ("grad_norm", "lam_min", "lam_max", "expected"),
    [
        (1.0, -2.0, 2.0, "not_critical"),
        (0.0, -2.0, 2.0, "saddle"),
        (0.0, -1e-5, 1.0, "local_minimum"),  # |λmin| ≤ τ = 1e-4: a zero direction
        (0.0, 0.0, 1.0, "local_minimum"),
        (0.0, -1.0, 1e-5, "local_maximum"),
        (0.0, -1e-5, 1e-5, "flat"),  # s ≤ curvature_tol: H ≈ 0
        (0.0, -3.0, -1.0, "local_maximum"),
    ],
)
def test_kind_follows_the_rule(grad_norm, lam_min, lam_max, expected):
    assert classify.kind(grad_norm, lam_min, lam_max, grad_tol=1e-3, curvature_tol=1e-4) == (
        expected
    )


def test_threshold_and_bad_input():
    assert classify.threshold(-3.0, 2.0, 1e-4) == pytest.approx(3e-4)
    with pytest.raises(ValueError, match="lambda_min"):
        classify.kind(0.0, float("nan"), 1.0, grad_tol=1e-3, curvature_tol=1e-4)


def test_every_statement_of_the_rule_is_the_same():
    from kerasnotes.callbacks import SaddlePointDetector
    from kerasnotes.curvature import CriticalPoint, HessianProbe

    # The rule is stated once, in the classify module's docstring; the others
    # point to it by name instead of restating it.
    assert _flat(classify.RULE) in _flat(classify.__doc__)
    for owner, doc in (
        ("CriticalPoint", CriticalPoint.__doc__),
        ("HessianProbe.analyze", HessianProbe.analyze.__doc__),
        ("SaddlePointDetector", SaddlePointDetector.__doc__),
    ):
        assert "kerasnotes.curvature.classify.RULE" in doc, owner
        assert classify.CONDITIONS["flat"] not in doc, owner  # no second copy
        # Other wordings of the rule that used to disagree with it are gone.
        assert "λmin > τ, λmax > τ" not in doc
        assert "#{λ>0}/#{λ}" not in doc
