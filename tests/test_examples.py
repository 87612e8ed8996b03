"""The tutorials in examples/: their form (Jupytext percent format, length, imports) and their runs.

The form is checked on the source, for every file. Each tutorial also runs as a
script in quick mode in a subprocess (cwd and log folder under pytest's
tmp_path) on the active backend; those runs are marked slow (about 15 s of CPU
each, most of it importing the backend and tracing), and `.ci/run` runs them on
TensorFlow. A run must exit with status 0, leave its working directory empty,
and print the numbers its text promises (the Hessian of (1 − w1·w2)² at its
saddle, the gradient formula against autodiff, ...).
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
#: One tutorial per chapter of the notes, then the tuner search, in reading order.
TUTORIALS = (
    "01_basics.py",
    "02_saddle_points.py",
    "03_batch_size_and_momentum.py",
    "04_adaptive_learning_rates.py",
    "05_classification_losses.py",
    "06_normalization.py",
    "07_tuner_search.py",
)
MAX_LINES = 150
#: Third-party packages a tutorial may import besides the standard library. keras-tuner
#: is a kerasnotes dependency and the subject of 07 (its HyperParameters drive the space).
THIRD_PARTY = {"keras", "keras_tuner", "numpy", "sklearn", "matplotlib", "kerasnotes"}
#: Never from a tutorial: the claims' internals and the framework-specific code.
FORBIDDEN = ("kerasnotes.experiments", "kerasnotes.backends", "kerasnotes.curvature.backends")
QUICK_LINE = re.compile(
    r'^QUICK = "--quick" in sys\.argv or os\.environ\.get\("KERASNOTES_EXAMPLES_QUICK"\) == "1"$',
    re.M,
)


def _cells(text: str) -> list[tuple[str, list[str]]]:
    """Jupytext percent cells: [(kind, lines)], kind "markdown" or "code"; lines before a marker fail."""
    cells: list[tuple[str, list[str]]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("# %%"):
            kind = "markdown" if line.strip() == "# %% [markdown]" else "code"
            assert kind == "markdown" or line.strip() == "# %%", f"line {number}: {line!r}"
            cells.append((kind, []))
        else:
            assert cells, f"line {number} comes before the first '# %%' cell marker"
            cells[-1][1].append(line)
    return cells


@pytest.mark.backend_independent
def test_the_folder_holds_exactly_the_tutorials():
    assert sorted(path.name for path in EXAMPLES.glob("*.py")) == list(TUTORIALS)
    assert [int(name[:2]) for name in TUTORIALS] == list(range(1, len(TUTORIALS) + 1))


@pytest.mark.backend_independent
@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorial_is_a_jupytext_percent_notebook_under_the_length_limit(name):
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    cells = _cells(text)
    assert len(text.splitlines()) <= MAX_LINES
    kinds = [kind for kind, _ in cells]
    assert kinds[0] == "markdown" and "code" in kinds and kinds.count("markdown") >= 3
    for kind, lines in cells:
        if kind == "markdown":  # prose only: every line a comment (or blank)
            assert all(line.startswith("#") or not line.strip() for line in lines), lines
    title = next(line for line in cells[0][1] if line.strip())
    assert title.startswith("# # ") and len(title) > 10, title
    # The quick switch is one obvious line of the first code cell.
    first_code = "\n".join(next(lines for kind, lines in cells if kind == "code"))
    assert QUICK_LINE.search(first_code), "QUICK = ... line missing from the first code cell"
    compile(text, name, "exec")


def _imports(tree: ast.AST) -> list[tuple[str, list[str]]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import"
            found.append((node.module, [alias.name for alias in node.names]))
    return found


@pytest.mark.backend_independent
@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorial_imports_only_keras_numpy_sklearn_matplotlib_and_public_kerasnotes(name):
    tree = ast.parse((EXAMPLES / name).read_text(encoding="utf-8"))
    for module, names in _imports(tree):
        top = module.split(".")[0]
        assert top in THIRD_PARTY or top in sys.stdlib_module_names, module
        assert not any(part.startswith("_") for part in module.split(".")), module
        assert not module.startswith(FORBIDDEN) and not module.startswith("keras.src"), module
        if top == "kerasnotes":
            public = getattr(importlib.import_module(module), "__all__", None)
            for imported in names:
                assert public is not None and imported in public, f"{module}.{imported}"
    for node in ast.walk(tree):  # kn.experiments.x or obj._private are not the public API
        if isinstance(node, ast.Attribute):
            assert node.attr != "experiments", ast.unparse(node)
            assert not node.attr.startswith("_") or node.attr.startswith("__"), ast.unparse(node)


#: Per tutorial, lines its quick run must print: fixed numbers of exact set-ups, or
#: (regex, check) pairs on measured ones.
PRINTS = {
    "01_basics.py": [
        (r"cross-entropy: numpy (\S+), kerasnotes (\S+), Keras (\S+)", lambda a, b, c: a == b == c),
        (r"\|formula - autodiff\| / max\|grad\| = (\S+)", lambda gap: float(gap) < 1e-4),
    ],
    "02_saddle_points.py": [
        "at w = 0: kind saddle, |grad| 0.0e+00, lambda -2.0000 / +2.0000, minimum ratio 0.50",
        "gradient descent from exactly 0: steps to L < 0.5: None",
        "one eigenvector step, eta=√2: L = 0.00e+00",
        (r"linear net, depth 2:\s+saddle", lambda: True),
        (r"linear net, depth 3:\s+flat", lambda: True),
        (r"  gradient descent: steps to L < 0.5: (\d+)", lambda steps: 70 <= int(steps) <= 80),
    ],
    "03_batch_size_and_momentum.py": [
        (r"heavy ball \(F2k\): L < 1e-3 after (\d+)", lambda steps: int(steps) < 162),
        (r"notes' EMA \(F2\): L < 1e-3 after (\d+)", lambda steps: int(steps) < 162),
        (
            r"gradient descent \(F1\): L < 1e-3 after (\d+) updates",
            lambda s: abs(int(s) - 162) <= 1,
        ),
    ],
    "04_adaptive_learning_rates.py": [
        (r"adagrad: .* only shrinks: (\w+)", lambda flag: flag == "True"),
    ],
    "05_classification_losses.py": [
        (r"BCE numpy (\S+), kerasnotes (\S+);", lambda a, b: abs(float(a) - float(b)) < 1e-4),
        (
            r"logit gap 10.0: \|dL/dz\| cross-entropy (\S+), MSE (\S+)",
            lambda ce, mse: 1e3 * float(mse) < float(ce),
        ),
    ],
    "06_normalization.py": [
        (r"inference, batch 1 vs batch \d+: max \|difference\| (\S+)", lambda d: float(d) < 1e-4),
        (r"with BN: lambda_max\s+(\S+) \(converged: True\)", lambda lam: float(lam) > 0),
    ],
    "07_tuner_search.py": [
        (r"(\d+) trials in", lambda count: int(count) == 3),
        (
            r"optimizer: Choice \['sgd', 'momentum', 'momentum_ema', 'adagrad', 'rmsprop', 'adam'\]",
            lambda: True,
        ),
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorial_runs_in_quick_mode_and_prints_its_numbers(name, tmp_path):
    cwd, logs = tmp_path / "cwd", tmp_path / "logs"
    cwd.mkdir()
    env = {
        **os.environ,
        "KERAS_BACKEND": keras.backend.backend(),
        "KERASNOTES_EXAMPLES_QUICK": "1",
        "KERASNOTES_EXAMPLES_LOGDIR": str(logs),
        "KERASNOTES_TUNER_DIR": str(tmp_path / "tuner"),
        "MPLBACKEND": "Agg",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for expected in PRINTS[name]:
        if isinstance(expected, str):
            assert expected in done.stdout, (expected, done.stdout)
            continue
        pattern, check = expected
        match = re.search(pattern, done.stdout)
        assert match and check(*match.groups()), (pattern, done.stdout)
    assert not any(cwd.iterdir()), sorted(os.listdir(cwd))  # nothing in the working tree
    events = list(logs.rglob("events.out.tfevents.*")) if logs.exists() else []
    # TensorBoard runs go under the folder the environment names (06 writes none).
    assert bool(events) == (name != "06_normalization.py"), sorted(map(str, events))
