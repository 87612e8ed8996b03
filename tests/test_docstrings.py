"""Every docstring Example in the package runs and prints what it shows (DESIGN: "an Example that runs").

One test per module, so a failure names the module; each starts from a fresh
Keras session (layer names such as ``sequential/dense`` depend on what was
built before) and a working directory of its own (examples may write files).
Modules of ``kerasnotes.backends`` other than the active one (``backends.jax``,
``backends.tensorflow_linearize``, ...) are left out: importing them would pull a
second framework in, one that a single extra such as ``.[jax]`` does not install.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re

import keras
import pytest

import kerasnotes
import kerasnotes.callbacks
import kerasnotes.tensorboard_plugins
from kerasnotes import experiments

BACKENDS = ("tensorflow", "jax", "torch")


def _module_names() -> list[str]:
    names = {"kerasnotes"}
    for package in (kerasnotes, kerasnotes.callbacks, kerasnotes.tensorboard_plugins):
        names.add(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            names.add(info.name)
    active = keras.backend.backend()
    return sorted(
        name
        for name in names
        if not name.endswith("__main__")  # runs the command line on import
        and _framework_of(name) in (None, active)
    )


def _framework_of(name: str) -> str | None:
    """The framework a ``kerasnotes.backends`` module imports ("tensorflow_linearize" -> "tensorflow")."""
    package, _, leaf = name.rpartition(".")
    if package != "kerasnotes.backends":
        return None
    framework = leaf.split("_")[0]
    return framework if framework in BACKENDS else None


MODULES = _module_names()
#: Modules whose examples train whole claims in quick mode. Their examples run with
#: every claim's quick mode replayed from the session's one training of it (conftest's
#: ``replay_quick_claims``), so a docstring does not train a claim again; the printed
#: results are checked once, under TensorFlow, which keeps the JAX and torch passes of
#: CI short (test_experiments*.py check the claims on every backend).
WHOLE_CLAIMS = re.compile(r"kerasnotes\.(tour|experiments|experiments\.c\d+_\w+)$")


def test_every_module_is_collected():
    # walk_packages misses nothing it should: the mapped packages and deep modules are in.
    assert {"kerasnotes.callbacks.saddle", "kerasnotes.curvature.probe"} <= set(MODULES)
    assert "kerasnotes.tensorboard_plugins.data" in MODULES
    assert len(MODULES) > 40
    backends = {
        name.rpartition(".")[2] for name in MODULES if name.startswith("kerasnotes.backends.")
    }
    assert (
        backends
        == {
            "tensorflow": {"tensorflow", "tensorflow_distribute", "tensorflow_linearize"},
            "jax": {"jax"},
            "torch": {"torch"},
        }[keras.backend.backend()]
    )
    claims = [name for name in MODULES if WHOLE_CLAIMS.match(name)]
    assert "kerasnotes.experiments.c10_small_batch_norm" in claims
    # the tour, the registry and one module per registered claim
    assert len(claims) == 2 + len(experiments.REGISTRY)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.e2e) if WHOLE_CLAIMS.match(name) else name
        for name in MODULES
    ],
)
def test_docstring_examples_run(name, tmp_path, monkeypatch, request):
    if WHOLE_CLAIMS.match(name):
        if keras.backend.backend() != "tensorflow":
            pytest.skip(
                "trains whole claims: checked under TensorFlow, the claims run on every backend"
            )
        request.getfixturevalue("replay_quick_claims")
    monkeypatch.chdir(tmp_path)
    keras.backend.clear_session()
    module = importlib.import_module(name)
    result = doctest.testmod(
        module,
        optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS,
        report=True,
        verbose=False,
    )
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
