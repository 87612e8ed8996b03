"""The suite's own xdist scheduling (conftest): which modules run whole on one worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ONE_WORKER_MODULES, one_worker_module

pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parents[1]


def test_every_one_worker_module_exists_and_says_why():
    # A renamed module would silently be split over the workers again.
    for module, reason in ONE_WORKER_MODULES.items():
        assert (ROOT / module).is_file(), module
        assert reason.strip(), module


def test_tests_of_a_grouped_module_share_one_unit_and_the_others_go_alone():
    ids = [
        "tests/test_curvature_convnets.py::test_hvp_matches_the_dense_hessian[1-batch]",
        "tests/test_curvature_convnets.py::test_lambda_max_and_min_match_eigvalsh[1-inference]",
        "tests/test_docs.py::test_every_topic_is_listed_on_the_index_pages",
    ]
    assert [one_worker_module(i) for i in ids] == [
        "tests/test_curvature_convnets.py",
        "tests/test_curvature_convnets.py",
        "tests/test_docs.py",
    ]
    assert one_worker_module("tests/test_losses.py::test_x") is None
    assert one_worker_module("tests/test_docs_extra.py::test_x") is None  # whole names only
