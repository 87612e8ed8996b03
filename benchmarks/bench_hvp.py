"""HVP cost over gradient cost, per backend and HVP mode, on the MLP 64-256-256-10.

Run: ``python benchmarks/bench_hvp.py [--reps 15] [--backends tensorflow,jax,torch]``

Each backend runs in its own subprocess (Keras picks its backend at import).
Model: Dense 64-256-256-10 (ReLU), 85,002 parameters, softmax cross-entropy,
all 1,797 digits in one batch, weights after one epoch of Adam.

Functions: ``plain gradient``, the backend's own compiled gradient of the
same loss as a user would write it (``benchmarks/_plain.py``: ``tf.function``
and a ``GradientTape``, ``jax.jit(jax.value_and_grad)``, torch autograd), the
denominator of every ratio; ``gradient``, kerasnotes' compiled gradient
function with the probe's float64 conversion; each HVP mode recomputing the
forward and backward pass on every call; the "linearized" HVP that keeps the first-order
computation of the fixed weights and data between products (``jax.linearize``,
a retained torch autograd graph, the TensorFlow graph split at its dependence
on v); and ``probe.hvp``, what
``HessianProbe`` actually does (the linearized path when the data is one batch).

Time: the functions are called in turn, ``reps`` rounds, interleaved so load
on the shared machine hits all of them alike; the table reports median
milliseconds and the median of the per-round ratios to the plain gradient.
All of them end in one float64 numpy vector.

Memory: peak resident memory of one call, in a fresh process per (backend,
function). The process sets ``MALLOC_MMAP_THRESHOLD_=65536`` so every tensor
buffer is mmap'd and handed back to the OS when freed; it calls the function
twice (tracing/compiling and warming up), then resets the kernel's peak-RSS
counter (``echo 5 > /proc/self/clear_refs``) and calls it once more:
``VmHWM − VmRSS`` before that call is the memory the call itself needed.
For the linearized product that is one product's need; the residuals it
keeps between products (activations, masks: about one forward pass) were
allocated by the earlier calls and are not in it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import _setup
import _table
from _plain import plain_gradient

BACKENDS = ("tensorflow", "jax", "torch")


def trained_digits_mlp(seed: int = 0):
    """The benchmarks' model: a 64-256-256-10 ReLU MLP after one Adam epoch on digits.

    Returns ``(model, loss, x, y)``; bench_pyhessian.py measures the same model.
    """
    import keras

    from kerasnotes import datasets

    keras.utils.set_random_seed(seed)
    (x, y), _ = datasets.load_digits(validation_fraction=0.0)
    model, loss = _setup.mlp(64, (256, 256))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    return model, loss, x, y


def build(seed: int = 0):
    import numpy as np

    from kerasnotes.curvature import HessianProbe

    model, loss, x, y = trained_digits_mlp(seed)
    probe = HessianProbe(model, x, y, loss=loss)
    v = np.random.default_rng(seed).normal(size=probe.num_parameters)
    return model, loss, probe, v


def functions(model, loss, probe):
    """name -> zero-argument callable; the plain gradient first, then ours, then every HVP mode."""
    import importlib

    import keras

    from kerasnotes.curvature.objective import make_objective

    backend = importlib.import_module(f"kerasnotes.backends.{keras.backend.backend()}")
    objective = make_objective(model, loss, "inference")
    grad_fn = backend.gradient_function(objective)
    x, y, sw, w = probe._batches[0]

    def gradient():
        value, grads = grad_fn(probe._trainable, probe._non_trainable, x, y, sw, w)
        return probe._to_flat(grads)

    plain = plain_gradient(model, loss, [(x, y)], probe.num_samples, training=False)
    out = {"plain gradient": plain, "gradient": gradient}
    for mode in backend.HVP_MODES:
        hvp_fn = backend.hvp_function(objective, mode)

        def hvp(hvp_fn=hvp_fn):
            vectors = probe._to_tensors(V)
            return probe._to_flat(
                hvp_fn(probe._trainable, probe._non_trainable, x, y, sw, w, vectors)
            )

        out[mode] = hvp
    if getattr(backend, "linearized_hvp", None) is not None:
        apply = backend.linearized_hvp(objective)(
            probe._trainable, probe._non_trainable, x, y, sw, w
        )
        out["linearized (kept between HVPs)"] = lambda: probe._to_flat(apply(probe._to_tensors(V)))
    out["probe.hvp"] = lambda: probe.hvp(V)
    return out


def time_worker(reps: int) -> dict:
    global V
    import numpy as np

    model, loss, probe, V = build()
    fns = functions(model, loss, probe)
    reference = fns["gradient"]()
    plain = fns["plain gradient"]()
    checks = {}
    for name, fn in fns.items():
        result = fn()  # trace / compile
        if "gradient" not in name:
            checks[name] = float(np.linalg.norm(result))
    times = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    grad_times = times["plain gradient"]
    rows = {}
    for name, ts in times.items():
        ratios = [t / g for t, g in zip(ts, grad_times, strict=True)]
        rows[name] = {"ms": 1e3 * statistics.median(ts), "ratio": statistics.median(ratios)}
    return {
        "rows": rows,
        "hvp_norms": checks,
        "grad_norm": float(np.linalg.norm(reference)),
        # the two gradients must be one: same loss, same weights, same rows
        "gradient_difference": float(
            np.linalg.norm(reference - plain) / max(np.linalg.norm(plain), 1e-300)
        ),
    }


def memory_worker(name: str) -> dict:
    global V
    model, loss, probe, V = build()
    fn = functions(model, loss, probe)[name]
    fn()
    fn()
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    before = _setup.status_kib("VmRSS")
    fn()
    return {"peak_mib": (_setup.status_kib("VmHWM") - before) / 1024}


def run_worker(backend: str, args: list[str]) -> dict:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    out = subprocess.run(
        [sys.executable, __file__, "--worker", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--worker", nargs="+")
    _table.add_flag(parser)
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        result = time_worker(int(rest[0])) if kind == "time" else memory_worker(rest[0])
        print(json.dumps(result))
        return
    with _table.tables("hvp", args.write_readme):
        print("| backend | function | median ms | / plain gradient | peak MiB | / plain gradient |")
        print("|---|---|---:|---:|---:|---:|")
        for backend in args.backends.split(","):
            timing = run_worker(backend, ["time", str(args.reps)])
            memory = {}
            if not args.no_memory:
                for name in timing["rows"]:
                    if name.startswith("probe."):  # the same computation as "linearized"
                        continue
                    memory[name] = run_worker(backend, ["memory", name])["peak_mib"]
            for name, row in timing["rows"].items():
                mem = memory.get(name)
                mem_cells = (
                    f"{mem:.1f} | {mem / memory['plain gradient']:.2f}"
                    if mem is not None
                    else "- | -"
                )
                print(
                    f"| {backend} | {name} | {row['ms']:.1f} | {row['ratio']:.2f} | {mem_cells} |"
                )
            norms = ", ".join(f"{k}: {v:.6g}" for k, v in timing["hvp_norms"].items())
            print(f"<!-- {backend}: ‖Hv‖ per mode (must agree): {norms} -->")
            print(
                f"<!-- {backend}: kerasnotes vs plain gradient, relative difference "
                f"{timing['gradient_difference']:.1e} -->"
            )


if __name__ == "__main__":
    main()
