"""Shared test set-up: quiet logs, fixed seeds, the active backend's name, a private cwd.

Every test runs in its own temporary working directory, so that nothing a test
(or a docstring example, or Keras itself) writes under a relative path lands in
the user's clone; CI checks that ``git status --porcelain --ignored`` is unchanged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pickle
import shutil
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: xdist workers may then train a claim each
    fcntl = None

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# Hypothesis keeps its example database in ./.hypothesis by default: inside the clone.
settings.register_profile("kerasnotes", database=None)
settings.load_profile("kerasnotes")

BACKEND = keras.backend.backend()

if BACKEND == "torch" and os.environ.get("PYTEST_XDIST_WORKER"):
    # Two xdist workers already keep both cores busy; torch's own intra-op threads on
    # top of them wait for a core (a small HVP took 28 times longer on a loaded machine).
    import torch

    torch.set_num_threads(1)


def pytest_sessionstart(session):
    # Hypothesis keeps more than its database (constants/ since 6.16x, written while
    # collecting) under its home directory, ./.hypothesis by default: inside the clone.
    # Before collection, move it into this session's pytest-N folder, beside tmp_path.
    from hypothesis import configuration

    base = session.config._tmp_path_factory.getbasetemp()
    configuration.set_hypothesis_home_dir(base / "hypothesis")


# ---------------------------------------------------------------------------------------
# Scheduling over xdist workers (pyproject: -n 2 --dist loadgroup): one test at a time to
# whichever worker is free, except the modules below, each sent whole to one worker
# because a module-scoped fixture or cache there is expensive and a split module builds
# it once per worker. (pytest-xdist's own xdist_group marker cannot do this under
# pytest 9: the group suffix it adds to item._nodeid no longer reaches item.nodeid.)
ONE_WORKER_MODULES = {
    "tests/test_curvature_convnets.py": "two dense 382x382 Hessians (functools.cache)",
    "tests/test_docs.py": "the documentation site (one `mkdocs build` subprocess)",
}


def one_worker_module(nodeid: str) -> str | None:
    """The module a test is sent with (one of ONE_WORKER_MODULES), or None: sent alone."""
    module = nodeid.split("::", 1)[0]
    return module if module in ONE_WORKER_MODULES else None


def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadgroup":
        return None  # "-n 0", or another --dist the user asked for
    from xdist.scheduler import LoadGroupScheduling

    class ModuleGroups(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return one_worker_module(nodeid) or super()._split_scope(nodeid)

    return ModuleGroups(config, log)


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


# ---------------------------------------------------------------------------------------
# Each claim trains once per backend in the suite: its quick mode (seed 0) runs the first
# time a test asks for it, into a folder of this pytest run; every later test (the
# examples, the docstrings, the tour) gets a copy of those files and of the result.
# With pytest-xdist the workers share the folder and take turns through a file lock, so
# the claim trains once per run, not once per worker.


def _shared_folder(tmp_path_factory) -> Path:
    base = tmp_path_factory.getbasetemp()
    # xdist: popen-gw0, popen-gw1 ... under the run's pytest-N folder, which they share
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = shared / f"quick_claims_{BACKEND}"
    folder.mkdir(exist_ok=True)
    return folder


@contextlib.contextmanager
def _locked(path: Path):
    with open(path, "a+") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)


class QuickClaims:
    """The quick-mode result of every claim (seed 0), trained once and then replayed.

    ``result(claim)`` is the result of the one training; ``replay(claim, log_dir)`` copies
    its runs and plot into ``<log_dir>/<claim>`` and returns the result with its paths
    there, as a fresh ``run("quick", log_dir)`` would.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._loaded: dict[str, tuple] = {}

    def _trained(self, claim: str) -> tuple:
        if claim not in self._loaded:
            saved = self.folder / f"{claim}.pickle"
            with _locked(self.folder / f"{claim}.lock"):
                if not saved.exists():
                    from kerasnotes import experiments

                    module = experiments.load(claim)
                    run = getattr(module, "_trained_run", module.run)  # not a replay
                    shown: list[str] = []
                    keras.utils.set_random_seed(1234)
                    result = run(
                        mode="quick", log_dir=self.folder / "runs", seed=0, progress=shown.append
                    )
                    keras.backend.clear_session()
                    saved.write_bytes(pickle.dumps((result, shown)))
            self._loaded[claim] = pickle.loads(saved.read_bytes())
        return self._loaded[claim]

    def result(self, claim: str):
        """The claim's quick-mode result (seed 0); its files are in this run's folder."""
        return self._trained(claim)[0]

    def replay(self, claim: str, log_dir, progress=None):
        """The result and files of the one training, as a ``run("quick", log_dir)`` gives them."""
        result, shown = self._trained(claim)
        source = self.folder / "runs" / claim
        target = Path(log_dir) / claim
        shutil.copytree(source, target, dirs_exist_ok=True)
        for name in shown:
            if progress is not None:
                progress(name)

        def moved(path):
            return None if path is None else target / Path(path).relative_to(source)

        return dataclasses.replace(
            result, plot=moved(result.plot), runs=[moved(run) for run in result.runs]
        )


@pytest.fixture(scope="session")
def quick_claims(tmp_path_factory) -> QuickClaims:
    return QuickClaims(_shared_folder(tmp_path_factory))


@pytest.fixture
def replay_quick_claims(quick_claims, monkeypatch) -> QuickClaims:
    """Every claim module's ``run`` replays the one training for ``mode="quick", seed=0``.

    Other modes and seeds train for real. The replay takes ``log_dir`` and the
    deprecated ``logdir`` alike, as the claims' ``run`` does.
    """
    from kerasnotes import experiments

    for claim in experiments.registered():
        module = experiments.load(claim)
        trained = getattr(module, "_trained_run", module.run)

        def run(
            mode="default",
            log_dir="runs",
            seed=0,
            progress=None,
            *,
            logdir=None,
            _c=claim,
            _t=trained,
        ):
            where = log_dir if logdir is None else logdir
            if mode == "quick" and seed == 0:
                return quick_claims.replay(_c, where, progress)
            return _t(mode=mode, log_dir=where, seed=seed, progress=progress)

        monkeypatch.setattr(module, "_trained_run", trained, raising=False)
        monkeypatch.setattr(module, "run", run)
    return quick_claims
