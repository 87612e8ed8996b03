"""Shared test set-up: quiet logs, fixed seeds, the active backend's name, a private cwd.

Every test runs in its own temporary working directory, so that nothing a test
(or a docstring example, or Keras itself) writes under a relative path lands in
the user's clone; CI checks that ``git status --porcelain --ignored`` is unchanged.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# Hypothesis keeps its example database in ./.hypothesis by default: inside the clone.
settings.register_profile("kerasnotes", database=None)
settings.load_profile("kerasnotes")

BACKEND = keras.backend.backend()


def pytest_sessionstart(session):
    # Hypothesis keeps more than its database (constants/ since 6.16x, written while
    # collecting) under its home directory, ./.hypothesis by default: inside the clone.
    # Before collection, move it into this session's pytest-N folder, beside tmp_path.
    from hypothesis import configuration

    base = session.config._tmp_path_factory.getbasetemp()
    configuration.set_hypothesis_home_dir(base / "hypothesis")


@pytest.fixture(autouse=True)
def _private_working_directory(tmp_path_factory, monkeypatch):
    # A folder of its own (not tmp_path, which the test may want empty).
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(autouse=True)
def _fixed_seed():
    keras.utils.set_random_seed(1234)
    np.random.seed(1234)
    yield
    keras.backend.clear_session()


@pytest.fixture
def backend() -> str:
    return BACKEND
