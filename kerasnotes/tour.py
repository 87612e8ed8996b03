"""``kerasnotes tour``: train on scikit-learn's digits and report the numbers.

The tour trains one MLP (64-64-10) on the bundled digits with each of the
notes' optimizers, from the same initial weights, and prints the training and
validation loss and accuracy of each. Every figure is measured in the run.
"""

from __future__ import annotations

import time

import numpy as np

MODES = {
    # mode: (epochs, batch size)
    "quick": (2, 64),
    "default": (10, 32),
    "full": (40, 32),
}

OPTIMIZER_SETTINGS = {
    "sgd": {"learning_rate": 0.05},
    "momentum": {"learning_rate": 0.05, "momentum": 0.9},
    "adagrad": {"learning_rate": 0.05},
    "rmsprop": {"learning_rate": 0.001},
    "adam": {"learning_rate": 0.001},
}


def _mlp(seed: int):
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input(shape=(64,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10),
        ]
    )


def optimizer_race(mode: str = "default", seed: int = 0) -> list[dict[str, float | str]]:
    """Train the digits MLP once per optimizer and return one row of figures each."""
    import keras

    from kerasnotes import datasets, optimizers

    if mode not in MODES:
        raise ValueError(f"mode must be one of {sorted(MODES)}; got mode={mode!r}")
    epochs, batch_size = MODES[mode]
    (x_train, y_train), (x_val, y_val) = datasets.load_digits(seed=seed)
    initial_weights = _mlp(seed).get_weights()
    rows = []
    for name, settings in OPTIMIZER_SETTINGS.items():
        model = _mlp(seed)
        model.set_weights(initial_weights)
        model.compile(
            optimizer=optimizers.get(name, **settings),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        start = time.perf_counter()
        history = model.fit(
            x_train,
            y_train,
            validation_data=(x_val, y_val),
            epochs=epochs,
            batch_size=batch_size,
            shuffle=True,
            verbose=0,
        ).history
        rows.append(
            {
                "optimizer": name,
                "settings": ", ".join(f"{k}={v}" for k, v in settings.items()),
                "train_loss": float(history["loss"][-1]),
                "val_loss": float(history["val_loss"][-1]),
                "val_accuracy": float(history["val_accuracy"][-1]),
                "seconds": time.perf_counter() - start,
            }
        )
    return rows


def main(logdir: str = "runs", mode: str = "default") -> int:
    """Run the tour and print its table; returns the exit status."""
    import keras

    print(f"kerasnotes tour ({mode}) on Keras {keras.__version__}, backend {keras.backend.backend()}")
    print("digits MLP 64-64-10, same initial weights for every optimizer\n")
    rows = optimizer_race(mode)
    header = f"{'optimizer':<10} {'settings':<32} {'train loss':>10} {'val loss':>9} {'val acc':>8} {'s':>6}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['optimizer']:<10} {row['settings']:<32} {row['train_loss']:>10.4f} "
            f"{row['val_loss']:>9.4f} {row['val_accuracy']:>8.3f} {row['seconds']:>6.1f}"
        )
    finite = all(np.isfinite(row["train_loss"]) for row in rows)
    return 0 if finite else 1
