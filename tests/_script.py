"""Run a Python script in a fresh interpreter and read the JSON line it prints last."""

from __future__ import annotations

import json
import subprocess
import sys


def run_json(args: list, env: dict, timeout: float, cwd=None) -> dict:
    """``python -c args[0] args[1:]`` under ``env``: it must succeed; its last stdout line as JSON.

    A fresh process is how a test gets a backend or device setting that the
    pytest process has already fixed.
    """
    done = subprocess.run(
        [sys.executable, "-c", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


#: Script text both placement subprocess tests start from (after their own imports):
#: 512 digits rows as ``x, y`` and ``build()``, a seeded 64-16-10 tanh MLP compiled with SGD.
DIGITS_MLP = """
from sklearn.datasets import load_digits

digits = load_digits()
x = (digits.data[:512] / 16).astype("float32")
y = digits.target[:512]


def build():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="tanh"),
                              keras.layers.Dense(10)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model
"""
