"""HessianProbe vs PyHessian on the same torch model and data, in one process.

Run: ``KERAS_BACKEND=torch python benchmarks/bench_pyhessian.py [--reps 3]``
(needs ``pip install pyhessian --no-deps``, the ``bench`` extra).

Model: Keras Dense 64-256-256-10 (ReLU) on the torch backend, 85,002
parameters, one epoch of Adam on all 1,797 digits; a Keras model on torch is a
``torch.nn.Module``, so PyHessian receives the very same module and tensors.
Loss: mean softmax cross-entropy (``torch.nn.CrossEntropyLoss`` for PyHessian,
``SparseCategoricalCrossentropy(from_logits=True)`` for us).

Each round times, in turn:
  * PyHessian, twice: with ``data=(x, y)`` (one batch; it keeps the gradient
    graph and each HVP is one backward pass) and with ``dataloader=[(x, y)]``
    (its full-dataset path; forward and double backward per HVP);
  * in both, ``eigenvalues(top_n=1, tol=1e-3)`` after building ``hessian(...,
    cuda=False)``: λmax alone by power iteration, stopping
    when two successive estimates differ by less than 0.1% (relative);
  * HessianProbe: construction then ``eigenvalues(k=1, which="both", tol=1e-4)``:
    λmin and λmax from one Lanczos run, each Ritz residual ≤ 1e-4·max|λ|;
  * PyHessian once more at tol 1e-6, where its λmax error comes near 1e-4
    (at 1e-3 it is off by 0.5-2%: the power iteration's stop measures the
    change between steps, not the error);
  * HessianProbe on PyHessian's own task: ``eigenvalues(k=1, which="largest",
    tol=1e-3)``, λmax alone, Ritz residual ≤ 1e-3·λmax after at least 20 Lanczos
    steps (a residual bounds the distance to *some* eigenvalue; the 20 steps
    keep the second one from stopping the run before λmax is in the Krylov space).
Each round starts our Lanczos from another seed (the round's number).
The table gives median process CPU seconds, HVP counts and the median per-round ratio,
plus both λmax estimates and λmin against a long Lanczos reference (tol 1e-8).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import _table

os.environ.setdefault("KERAS_BACKEND", "torch")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    _table.add_flag(parser)
    args = parser.parse_args()

    import keras

    if keras.backend.backend() != "torch":
        raise SystemExit("PyHessian is torch-only: run with KERAS_BACKEND=torch")
    import torch
    from bench_hvp import trained_digits_mlp
    from pyhessian import hessian

    from kerasnotes.curvature import HessianProbe

    model, loss, x, y = trained_digits_mlp(seed=0)
    xt = torch.as_tensor(x)
    yt = torch.as_tensor(y, dtype=torch.int64)
    criterion = torch.nn.CrossEntropyLoss()

    def run_pyhessian(mode, tol=1e-3):
        start = time.process_time()
        if mode == "data":  # one batch: PyHessian keeps the gradient graph between HVPs
            h = hessian(model, criterion, data=(xt, yt), cuda=False)
        else:  # its full-dataset path: forward and double backward on every HVP
            h = hessian(model, criterion, dataloader=[(xt, yt)], cuda=False)
        calls = {"n": 0}
        # Count PyHessian's HVPs through the helper its module calls (the package's
        # __init__ shadows the submodule name with the class, hence sys.modules).
        module = sys.modules[hessian.__module__]
        original = module.hessian_vector_product

        def counted(*a, **k):
            calls["n"] += 1
            return original(*a, **k)

        module.hessian_vector_product = counted
        if mode == "dataloader":
            original_loader = h.dataloader_hv_product

            def counted_loader(v):
                calls["n"] += 1
                return original_loader(v)

            h.dataloader_hv_product = counted_loader
        try:
            values, _ = h.eigenvalues(top_n=1, tol=tol, maxIter=1000)
        finally:
            module.hessian_vector_product = original
        seconds = time.process_time() - start
        for p in model.parameters():  # drop the graph PyHessian hung on .grad
            p.grad = None
        del h
        return seconds, values[0], calls["n"]

    def run_ours(seed, which="both", tol=1e-4):
        start = time.process_time()
        probe = HessianProbe(model, x, y, loss=loss)
        result = probe.eigenvalues(k=1, which=which, tol=tol, seed=seed)
        seconds = time.process_time() - start
        return seconds, result

    load_before = os.getloadavg()
    run_ours(99)  # warm-up: first use builds the engine
    rows, loader_rows, same_task_rows, tight_rows = [], [], [], []
    for rep in range(args.reps):
        theirs = run_pyhessian("data")
        tight = run_pyhessian("data", tol=1e-6)
        loader = run_pyhessian("dataloader")
        ours = run_ours(rep)
        ours_max = run_ours(rep, which="largest", tol=1e-3)
        rows.append((theirs, ours))
        loader_rows.append((loader, ours))
        same_task_rows.append((theirs, ours_max))
        tight_rows.append((tight, ours))
        print(
            f"round {rep}: PyHessian(data) {theirs[0]:.2f}s ({theirs[2]} HVPs, λmax "
            f"{theirs[1]:.6g}); PyHessian(dataloader) {loader[0]:.2f}s ({loader[2]} HVPs, "
            f"λmax {loader[1]:.6g}); ours {ours[0]:.2f}s ({ours[1].num_hvp} HVPs, "
            f"λ {ours[1].values}, converged {ours[1].converged})"
        )
    reference = HessianProbe(model, x, y, loss=loss).eigenvalues(
        k=1, which="both", tol=1e-8, max_iter=600
    )
    ratio = statistics.median(o[0] / t[0] for t, o in rows)
    loader_ratio = statistics.median(o[0] / t[0] for t, o in loader_rows)
    pyh_s = statistics.median(t[0] for t, _ in rows)
    loader_s = statistics.median(t[0] for t, _ in loader_rows)
    last_l = loader_rows[-1][0]
    our_s = statistics.median(o[0] for _, o in rows)
    last_t, last_o = rows[-1]
    same_ratio = statistics.median(o[0] / t[0] for t, o in same_task_rows)
    max_s = statistics.median(o[0] for _, o in same_task_rows)
    last_m = same_task_rows[-1][1][1]
    tight_ratio = statistics.median(o[0] / t[0] for t, o in tight_rows)
    tight_s = statistics.median(t[0] for t, _ in tight_rows)
    last_tight = tight_rows[-1][0]
    load = os.getloadavg()
    with _table.tables("pyhessian", args.write_readme):
        print(
            f"\nProcess CPU seconds (the machine is shared), median of {args.reps} rounds; load average (1 min) "
            f"{load_before[0]:.1f} at the start, {load[0]:.1f} at the end, on {os.cpu_count()} cores."
        )
        print()
        print("| tool | task | median CPU s | HVPs | λmax | λmin |")
        print("|---|---|---:|---:|---:|---:|")
        print(
            f"| PyHessian 0.1 (data=, graph kept) | λmax, power iteration, tol 1e-3 | {pyh_s:.2f} "
            f"| {last_t[2]} | {last_t[1]:.6g} | - |"
        )
        print(
            f"| PyHessian 0.1 (dataloader=) | λmax, power iteration, tol 1e-3 | {loader_s:.2f} "
            f"| {last_l[2]} | {last_l[1]:.6g} | - |"
        )
        print(
            f"| PyHessian 0.1 (data=, graph kept) | λmax, power iteration, tol 1e-6 | {tight_s:.2f} "
            f"| {last_tight[2]} | {last_tight[1]:.6g} | - |"
        )
        print(
            f"| kerasnotes HessianProbe | λmin and λmax, Lanczos, tol 1e-4 | {our_s:.2f} "
            f"| {last_o[1].num_hvp} | {last_o[1].values[-1]:.6g} | {last_o[1].values[0]:.6g} |"
        )
        print(
            f"| kerasnotes HessianProbe | λmax, Lanczos, tol 1e-3 | {max_s:.2f} "
            f"| {last_m.num_hvp} | {last_m.values[-1]:.6g} | - |"
        )
        print(
            f"| reference | Lanczos, tol 1e-8 | - | {reference.num_hvp} | "
            f"{reference.values[-1]:.6g} | {reference.values[0]:.6g} |"
        )
        print(f"\nmedian time ratio ours / PyHessian(data=): {ratio:.2f} (target <= 0.5)")
        print(
            f"median time ratio ours / PyHessian(dataloader=): {loader_ratio:.2f} (target <= 0.5)"
        )
        print(f"same task (λmax alone, tol 1e-3), ours / PyHessian(data=): {same_ratio:.2f}")
        print(
            "ours (λmin and λmax, tol 1e-4) / PyHessian(data=, λmax alone, tol 1e-6, the tol at "
            f"which its error comes near 1e-4): {tight_ratio:.2f}"
        )
        lam = reference.values[-1]
        errors = [abs(o[1].values[-1] - lam) / lam for _, o in same_task_rows]
        worst_max = max(errors)
        min_hvp = min(o[1].num_hvp for _, o in same_task_rows)
        max_hvp = max(o[1].num_hvp for _, o in same_task_rows)
        print(
            f"λmax relative error: PyHessian {abs(last_t[1] - lam) / lam:.1e} at tol 1e-3, "
            f"{abs(last_tight[1] - lam) / lam:.1e} at tol 1e-6; "
            f"ours at tol 1e-3 {abs(last_m.values[-1] - lam) / lam:.1e} (worst of the "
            f"{args.reps} start seeds {worst_max:.1e}, HVPs {min_hvp}-{max_hvp}), "
            f"ours at tol 1e-4 {abs(last_o[1].values[-1] - lam) / lam:.1e}"
        )


if __name__ == "__main__":
    main()
