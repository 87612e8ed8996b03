"""Gradient and Hessian-vector product cost on a CIFAR-style ResNet-20, one backend a process.

Model: ``kerasnotes.datasets.cifar_resnet()`` (depth 20, 16/32/64 channels,
BatchNormalization, 272,474 trainable parameters), softmax cross-entropy on
``--num-samples`` seeded 32x32x3 images (2,048 by default; curvature cost does
not depend on image content), in micro-batches of ``--batch-size`` (256, the
batch PyHessian is usually fed), BN in ``--bn-mode`` (inference by default).

Functions compared, each over all micro-batches and ending in numpy:

- ``plain gradient``: the backend's compiled gradient of the same loss, the
  best a user could write: ``tf.function`` around a ``GradientTape`` (TensorFlow),
  ``jax.jit(jax.value_and_grad(...))`` over ``model.stateless_call`` (JAX), a
  forward pass and ``torch.autograd.grad`` (PyTorch); per-batch gradients
  summed with weights n_b/N in the framework, one conversion at the end.
- ``probe gradient``: ``HessianProbe.gradient()`` (its cache cleared), which
  sums in float64 numpy.
- ``probe HVP``: ``HessianProbe.hvp(v)``, one Hessian-vector product of the
  full-data loss as a solver's later products run it: each micro-batch's
  first-order state (forward and first backward pass) was kept at its first
  product (``kerasnotes.curvature.prepared``, within the default
  ``cache_bytes``), so a product is the second-order part alone;
- ``probe HVP, recomputed``: the same with ``cache_bytes=0``, which keeps the
  first micro-batch's state only and computes every other one whole
  (forward, backward and double backward) on every product.

Time: after two warm-up calls each (tracing, compiling), ``--reps`` rounds call
the three in turn, interleaved so load on the shared machine hits all of them
alike; reported are the median wall and process-CPU milliseconds and the
medians of the per-round ratios. The first call's time (tracing and
compiling included) is reported beside them.

Memory: peak resident memory of one call, in a fresh process per function (as
in ``bench_hvp.py``): ``MALLOC_MMAP_THRESHOLD_=65536`` so tensor buffers are
mmap'd and returned to the OS when freed; two calls (tracing, warm-up), then
the kernel's peak-RSS counter is reset (``echo 5 > /proc/self/clear_refs``)
and the function called once more: ``VmHWM − VmRSS`` before that call is the
memory the call itself needed. TensorFlow keeps freed buffers in its own
allocator, so its third call peaks at almost nothing; the table therefore also
shows the resident memory the first two calls left behind, and the ratios use
the larger of the two figures per function. The peak is a per-micro-batch quantity, so the
memory processes use two micro-batches (``2 × --batch-size`` images, the same
code path) instead of the full data.

The frameworks run single-threaded unless the environment already says
otherwise (OMP_NUM_THREADS etc.), as in ``bench_optimizers.py``: on a shared
2-core machine threads fight for cores and drown the ratios.

Usage (one backend per process, as Keras picks it at import):
    KERAS_BACKEND=tensorflow python benchmarks/bench_resnet20.py [--write-readme]
    KERAS_BACKEND=jax python benchmarks/bench_resnet20.py --num-samples 512 --reps 3
    KERAS_BACKEND=torch python benchmarks/bench_resnet20.py --no-memory
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

_setup.single_thread("3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kerasnotes import datasets  # noqa: E402
from kerasnotes.curvature import HessianProbe  # noqa: E402

BACKEND = keras.backend.backend()
TARGETS = {"HVP / gradient time": 2.0, "HVP / gradient peak memory": 2.0}
FUNCTIONS = ("plain gradient", "probe gradient", "probe HVP", "probe HVP, recomputed")


def build(num_samples: int, batch_size: int, bn_mode: str, seed: int = 0) -> dict:
    """name -> zero-argument callable returning a flat numpy vector, for FUNCTIONS."""
    model, x, y = datasets.cifar_resnet(num_samples=num_samples, seed=seed)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    probe = HessianProbe(model, x, y, loss=loss, batch_size=batch_size, bn_mode=bn_mode)
    batches = [
        (
            keras.ops.convert_to_tensor(x[i : i + batch_size]),
            keras.ops.convert_to_tensor(y[i : i + batch_size]),
        )
        for i in range(0, num_samples, batch_size)
    ]
    recomputed = HessianProbe(
        model, x, y, loss=loss, batch_size=batch_size, bn_mode=bn_mode, cache_bytes=0
    )
    v = np.random.default_rng(seed).normal(size=probe.num_parameters)

    def probe_gradient():
        probe._loss_and_grad = None  # the probe caches its gradient; time a fresh one
        return probe.gradient()

    return {
        "plain gradient": plain_gradient(model, loss, batches, num_samples, bn_mode == "batch"),
        "probe gradient": probe_gradient,
        "probe HVP": lambda: probe.hvp(v),
        "probe HVP, recomputed": lambda: recomputed.hvp(v),
        "_num_parameters": probe.num_parameters,
        "_state_bytes": lambda: probe._products.state_bytes,
    }


def _timed(fn) -> tuple[float, float, np.ndarray]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def time_all(args: argparse.Namespace) -> dict:
    fns = build(args.num_samples, args.batch_size, args.bn_mode)
    num_parameters = fns.pop("_num_parameters")
    state_bytes = fns.pop("_state_bytes")
    first, results = {}, {}
    for name in FUNCTIONS:
        first[name], _, results[name] = _timed(fns[name])
        fns[name]()  # warm-up after tracing
    wall = {name: [] for name in FUNCTIONS}
    cpu = {name: [] for name in FUNCTIONS}
    for _ in range(args.reps):
        for name in FUNCTIONS:
            w, c, _ = _timed(fns[name])
            wall[name].append(w)
            cpu[name].append(c)
    grad = results["probe gradient"]
    return {
        "num_parameters": num_parameters,
        "state_mib": state_bytes() / 2**20,
        "first": first,
        "wall": wall,
        "cpu": cpu,
        "gradient_agreement": float(
            np.linalg.norm(grad - results["plain gradient"]) / np.linalg.norm(grad)
        ),
        "hvp_norm": float(np.linalg.norm(results["probe HVP"])),
    }


def memory_worker(name: str, batch_size: int, bn_mode: str) -> dict:
    fn = build(2 * batch_size, batch_size, bn_mode)[name]
    start = _setup.status_kib("VmRSS")
    fn()
    fn()
    kept = _setup.status_kib("VmRSS") - start
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    before = _setup.status_kib("VmRSS")
    fn()
    return {"peak_mib": (_setup.status_kib("VmHWM") - before) / 1024, "kept_mib": kept / 1024}


def run_memory_worker(name: str, args: argparse.Namespace) -> dict:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    command = [sys.executable, __file__, "--memory-worker", name]
    command += ["--batch-size", str(args.batch_size), "--bn-mode", args.bn_mode]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _memory(figures: dict) -> float:
    """One call's need: the larger of its own peak and what the first two calls kept.

    PyTorch and JAX hand freed buffers back, so the third call's peak is its need;
    TensorFlow keeps its buffers in its allocator after a call, so the third call
    peaks at almost nothing and the need shows as resident memory the first two
    calls left behind (which also holds the traced graphs: an upper bound).
    """
    return max(figures["peak_mib"], figures["kept_mib"])


def _ratio(a: list[float], b: list[float]) -> float:
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def report(args: argparse.Namespace, timing: dict, memory: dict) -> None:
    wall, cpu, first = timing["wall"], timing["cpu"], timing["first"]
    print(
        f"### {BACKEND}: ResNet-20, {timing['num_parameters']:,} parameters, "
        f"{args.num_samples:,} images in batches of {args.batch_size}, bn_mode={args.bn_mode}, "
        f"median of {args.reps} rounds\n"
    )
    print(
        "| function | first call, s | wall ms | CPU ms | / plain gradient (wall) "
        "| peak of a warm call, MiB | kept by 2 calls, MiB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in FUNCTIONS:
        figures = memory.get(name)
        mem = f"{figures['peak_mib']:.0f} | {figures['kept_mib']:.0f}" if figures else "- | -"
        print(
            f"| {name} | {first[name]:.1f} | {1e3 * statistics.median(wall[name]):.0f} "
            f"| {1e3 * statistics.median(cpu[name]):.0f} "
            f"| {_ratio(wall[name], wall['plain gradient']):.2f} | {mem} |"
        )
    print("\n| ratio | measured | target |")
    print("|---|---:|---:|")
    hvp, grad = "probe HVP", "probe gradient"
    rows = {
        "HVP / gradient time": _ratio(wall[hvp], wall[grad]),
        "HVP / gradient time (CPU)": _ratio(cpu[hvp], cpu[grad]),
        "HVP / plain gradient time": _ratio(wall[hvp], wall["plain gradient"]),
        "HVP / plain gradient time (CPU)": _ratio(cpu[hvp], cpu["plain gradient"]),
        "recomputed HVP / plain gradient time (CPU)": _ratio(
            cpu["probe HVP, recomputed"], cpu["plain gradient"]
        ),
    }
    if memory:
        need = {name: _memory(figures) for name, figures in memory.items()}
        rows["HVP / gradient peak memory"] = need[hvp] / need[grad]
        rows["HVP / plain gradient peak memory"] = need[hvp] / need["plain gradient"]
    for label, value in rows.items():
        target = TARGETS.get(label.replace(" (CPU)", ""))
        bound = f"≤ {target:.1f}" if target else "-"
        print(f"| {label} | {value:.2f} | {bound} |")
    print(
        f"\nFirst-order state kept by the probe between products: {timing['state_mib']:.0f} MiB "
        f"for {args.num_samples:,} images (in the memory processes: 2 micro-batches)."
    )
    print(
        f"\n<!-- {BACKEND}: probe vs plain gradient, relative difference "
        f"{timing['gradient_agreement']:.1e}; ‖Hv‖ = {timing['hvp_norm']:.6g} -->"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-samples", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--bn-mode", choices=("inference", "batch"), default="inference")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--memory-worker", choices=FUNCTIONS)
    _table.add_flag(parser)
    args = parser.parse_args()
    if args.memory_worker:
        print(json.dumps(memory_worker(args.memory_worker, args.batch_size, args.bn_mode)))
        return
    with _table.tables(f"resnet20.{BACKEND}", args.write_readme):  # one backend a process
        timing = time_all(args)
        memory = {} if args.no_memory else {n: run_memory_worker(n, args) for n in FUNCTIONS}
        report(args, timing, memory)


if __name__ == "__main__":
    main()
