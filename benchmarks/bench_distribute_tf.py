"""The cost of a probe under tf.distribute: one device against two logical CPU devices.

Run: ``KERAS_BACKEND=tensorflow python benchmarks/bench_distribute_tf.py [--reps 3]``

The benchmarks' digits MLP (64-256-256-10, 85,002 parameters, all 1,797 digits,
``bench_hvp.trained_digits_mlp``). λmax by Lanczos (``eigenvalues(k=1,
tol=1e-4)``) on one device, then with the same weights under a
``tf.distribute.MirroredStrategy`` over two logical devices of the one CPU
(``tf.config.set_logical_device_configuration``), where each micro-batch is
cut in two and every product is summed with ``strategy.reduce``. Both share
the machine's cores, so no speed-up is expected: the ratio is the overhead
of the replicas (two graphs per product, the all-reduce, the transfers).
Time: median over ``reps`` fresh probes of the whole ``eigenvalues`` call
after one warm-up probe (tracing excluded); the λmax difference is relative.
"""

from __future__ import annotations

import argparse
import statistics
import time

import _setup
import _table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    _table.add_flag(parser)
    args = parser.parse_args()
    _setup.single_thread("3")
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from bench_hvp import trained_digits_mlp

    from kerasnotes.curvature import HessianProbe

    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    strategy = tf.distribute.MirroredStrategy(devices)
    model, loss, x, y = trained_digits_mlp()

    def timed(batch_size, distribution):
        def once():
            probe = HessianProbe(
                model, x, y, loss=loss, batch_size=batch_size, distribution=distribution
            )
            start = time.perf_counter()
            result = probe.eigenvalues(k=1, tol=1e-4)
            return time.perf_counter() - start, float(result.values[0]), result.num_hvp

        once()  # tracing
        runs = [once() for _ in range(args.reps)]
        return statistics.median(r[0] for r in runs), runs[0][1], runs[0][2]

    with _table.tables("distribute_tf", args.write_readme):
        print(f"Keras {keras.version()}, TensorFlow {tf.__version__}, {args.reps} reps\n")
        print(
            "| micro-batch | one device (s) | 2 logical devices (s) | ratio | HVPs | λmax rel. diff |"
        )
        print("|---|---|---|---|---|---|")
        for batch_size in (None, 512):
            one, lam_one, hvps = timed(batch_size, None)
            two, lam_two, _ = timed(batch_size, strategy)
            print(
                f"| {batch_size or 'all 1,797'} | {one:.2f} | {two:.2f} | {two / one:.2f} | "
                f"{hvps} | {abs(lam_two - lam_one) / abs(lam_one):.1e} |"
            )


if __name__ == "__main__":
    main()
