"""CPU time of one SaddlePointDetector gate call (``GradientNorm``): what is not the gradient.

The exact gate at the detector's defaults: ``GradientNorm(model, x, y)`` on the
digits MLP (64-128-64-10, 17,226 parameters) over the 1,438 training rows in
one micro-batch, at weights after 5 epochs of SGD(0.01), batch 32. Per call,
the median process CPU time (µs) over interleaved rounds of:

- ``per variable``: the gate as it was before issue #20's fourth round: the
  compiled ``(loss, grads)``, then one device-to-host copy per gradient array
  and one for the loss (``to_flat``), the float64 sums and norm on the host
  (``GradientNorm`` with its one-vector function switched off: the path torch
  still takes);
- ``one vector``: the gate now: one compiled function returns ``[vec(g), L]``,
  one copy to the host, the same float64 sums and norm (the backend's
  ``flat_gradient_function``; TensorFlow and torch have none, as it measured no
  faster there, and take the per-variable path);
- ``gradient alone``: the gate's compiled ``(loss, grads)`` with its result
  left on the device (JAX: ``block_until_ready``), the weights read as the
  gate reads them: the floor of any exact gate;
- ``plain``: the gradient a user would write (``benchmarks/_plain.py``:
  ``jax.jit(jax.value_and_grad(...))`` over ``stateless_call``, a
  ``tf.function`` around a ``GradientTape``, ``torch.autograd.grad``), its
  result as one flat float64 array.

``epoch`` is one training epoch (45 steps of 32 rows, about as many
floating-point operations as the gate), measured as ``fit(epochs=5) / 5``
beside the calls; ``gate / epoch`` is what an exact gate every epoch adds
to ``fit``, before the callback's own bookkeeping. The two gate paths must
give the same ``(L, ‖g‖)`` bit for bit; the script stops if they do not.

Run: ``python benchmarks/bench_gate_call.py [--backends tensorflow,jax,torch]
[--calls 50] [--rounds 9] [--write-readme]``; single-threaded, one process per backend.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import _plain
import _setup
import _table

COLUMNS = ("per variable", "one vector", "gradient alone", "plain")


def _measure(calls: int, rounds: int) -> dict:
    import keras
    from keras import ops

    import kerasnotes as kn
    from kerasnotes import datasets
    from kerasnotes.curvature.gate import GradientNorm

    (x, y), _ = datasets.load_digits()
    keras.utils.set_random_seed(0)
    model, loss = _setup.mlp(64, (128, 64))
    model.compile(kn.optimizers.SGD(0.01), loss)
    model.fit(x, y, batch_size=32, epochs=5, verbose=0)

    after = GradientNorm(model, x, y)
    before = GradientNorm(model, x, y)
    before._flat = None  # the per-variable path, as the gate ran before
    engine = after._engine
    (batch,) = list(after._batches)

    def alone() -> None:
        trainable = [ops.convert_to_tensor(v.value) for v in model.trainable_variables]
        non_trainable = [ops.convert_to_tensor(v.value) for v in model.non_trainable_variables]
        result = engine.value_and_grad(trainable, non_trainable, *batch)
        if keras.backend.backend() == "jax":
            import jax

            jax.block_until_ready(result)

    tensors = [(ops.convert_to_tensor(x), ops.convert_to_tensor(y))]
    plain = _plain.plain_gradient(model, loss, tensors, len(x), training=False)
    calls_of = {
        "per variable": before,
        "one vector": after,
        "gradient alone": alone,
        "plain": plain,
    }
    if before() != after():
        raise AssertionError(f"the two gate paths differ: {before()} != {after()}")
    for fn in calls_of.values():  # warm-up: the compiles
        fn()
        fn()
    times = {name: [] for name in (*COLUMNS, "epoch")}
    weights = model.get_weights()
    for round_ in range(rounds):
        shift = round_ % len(COLUMNS)
        for name in COLUMNS[shift:] + COLUMNS[:shift]:
            fn = calls_of[name]
            start = time.process_time()
            for _ in range(calls):
                fn()
            times[name].append(1e6 * (time.process_time() - start) / calls)
        if round_ % 3 == 0:  # a few fits: each is ~100 gate calls' time
            start = time.process_time()
            model.fit(x, y, batch_size=32, epochs=5, verbose=0)
            times["epoch"].append(1e6 * (time.process_time() - start) / 5)
            model.set_weights(weights)
    return {
        "backend": keras.backend.backend(),
        "rows": int(len(x)),
        "us": {name: statistics.median(t) for name, t in times.items()},
        "range": {name: (min(t), max(t)) for name, t in times.items()},
        "flat": after._flat is not None,
    }


def _print(results: list[dict], calls: int, rounds: int) -> None:
    print(
        f"median CPU µs per gate call over {rounds} interleaved rounds of {calls} calls "
        f"(range over rounds), digits MLP, {results[0]['rows']:,} rows\n"
    )
    print(
        "| backend | per variable (before) | one vector (now) | gradient alone | plain "
        "| before / now | epoch, µs | now / epoch |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        us, low_high = r["us"], r["range"]
        cells = [f"{us[c]:,.0f} ({low_high[c][0]:,.0f}...{low_high[c][1]:,.0f})" for c in COLUMNS]
        if not r["flat"]:
            cells[1] += " (per variable: no one-vector function)"
        print(
            f"| {r['backend']} | "
            + " | ".join(cells)
            + f" | {us['per variable'] / us['one vector']:.2f}× | {us['epoch']:,.0f} "
            f"| {100 * us['one vector'] / us['epoch']:.1f}% |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    _table.add_flag(parser)
    args = parser.parse_args()
    if args.calls < 1 or args.rounds < 1:
        parser.error("--calls and --rounds must be positive")
    if args.child:
        print(json.dumps(_measure(args.calls, args.rounds)))
        return
    results = []
    start_load = os.getloadavg()[0]
    for backend in args.backends.split(","):
        result = _setup.child_result(
            __file__, backend, [f"--calls={args.calls}", f"--rounds={args.rounds}"]
        )
        if result is not None:
            results.append(result)
    if not results:
        sys.exit("every backend failed")
    with _table.tables("gate_call", args.write_readme):
        _print(results, args.calls, args.rounds)
        print(
            f"\nload average (uptime, 1 min) at the start {start_load:.1f}, "
            f"at the end {os.getloadavg()[0]:.1f}"
        )


if __name__ == "__main__":
    main()
