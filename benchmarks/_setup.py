"""What several benchmark scripts share: single-threaded runs, memory readings, a digits MLP.

Kept free of framework imports: ``single_thread()`` must run before Keras (and
its backend) is imported, or the thread settings do not take.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

# One thread per process: on a shared 2-core machine the default thread pools
# measure contention instead of the code under test.
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}


def single_thread(tf_log_level: str) -> None:
    """Default this process to one thread per pool (settings already given are kept)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", tf_log_level)
    for name, value in THREAD_ENV.items():
        os.environ.setdefault(name, value)


def status_kib(field: str) -> int:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in KiB (Linux only)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} missing from /proc/self/status")


def mlp(inputs: int, hidden: tuple[int, ...], classes: int = 10):
    """A ReLU MLP with logits out and its sparse cross-entropy loss: ``(model, loss)``."""
    import keras

    layers = [keras.Input((inputs,))]
    layers += [keras.layers.Dense(width, activation="relu") for width in hidden]
    model = keras.Sequential([*layers, keras.layers.Dense(classes)])
    return model, keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def child_result(script: str, backend: str, arguments: list[str]) -> dict | None:
    """Run ``script --child ARGUMENTS`` under ``KERAS_BACKEND=backend``; its result, or None.

    One process per backend, as Keras picks its backend at import; the
    frameworks single-threaded unless the environment already says otherwise
    (``THREAD_ENV``). The result is the child's last line of standard output,
    parsed as JSON; a failed child's error is printed and None returned, so
    the other backends still run.
    """
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    for name, value in THREAD_ENV.items():
        env.setdefault(name, value)
    done = subprocess.run(
        [sys.executable, script, "--child", *arguments], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        print(f"{backend}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])
