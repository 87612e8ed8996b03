"""Edge of stability during fit (notes F17, C11): λmax of the loss against the optimizer's limit."""

from __future__ import annotations

import math
import os
import time
from typing import Any

import keras
import numpy as np

from kerasnotes import _validation, summary

from ._common import (
    LoggingCallback,
    check_log_dir,
    probe_config,
    probe_from_config,
    skip_failed_measurement,
    to_float,
)
from ._common import fixed_sample as _fixed_sample
from ._probe_args import _check_loss
from .inspector import _unwrapped

_NAN = float("nan")
#: Most Lanczos steps (HVPs) one measurement may spend.
MAX_STEPS = 300
_ADAPTIVE_KERAS = ("Adagrad", "RMSprop", "Adam")


def _sgd_factor(momentum: float, nesterov: bool, ema: bool) -> float:
    """``c`` in the limit ``ηλ < c`` of one SGD form on a quadratic (see the class docstring)."""
    beta = float(momentum)
    if beta == 0.0:
        return 2.0
    factor = (2.0 + 2.0 * beta) / (1.0 + 2.0 * beta) if nesterov else 2.0 + 2.0 * beta
    # The EMA form is the heavy-ball form with the step η(1 − β).
    return factor / (1.0 - beta) if ema else factor


def stability_threshold(optimizer: Any) -> tuple[float, bool]:
    """The sharpness above which ``optimizer`` diverges on a quadratic, and whether it is preconditioned.

    ```
    gradient descent  w ← w − ηg:                       ηλ < 2
    heavy ball        v ← βv − ηg, w ← w + v:           ηλ < 2 + 2β
      Nesterov        (Keras's form):                   ηλ < (2 + 2β)/(1 + 2β)
    EMA form          v ← βv + (1 − β)g, w ← w − ηv:    η(1 − β)λ < 2 + 2β
    Adagrad, RMSprop  w ← w − P g:                      λmax(P^½ H P^½) < 2
      RMSprop momentum μ  m ← μm + P g, w ← w − m:      λmax(P^½ H P^½) < 2 + 2μ
    Adam              m ← β₁m + (1 − β₁)g, w ← w − P m: λmax(P^½ H P^½) < (2 + 2β₁)/(1 − β₁)
    ```

    Returns ``(threshold, preconditioned)``: for the SGD family the threshold
    is ``c/η`` on ``λmax(H)`` (η the current learning rate, a schedule
    evaluated at the current iteration); for the adaptive optimizers it is the
    dimensionless ``c`` on the preconditioned sharpness, ``P`` being
    ``optimizer.inspect(w)["effective_learning_rate"]``.

    Raises:
        TypeError: for a Keras built-in Adagrad/RMSprop/Adam (no ``inspect``:
            use the kerasnotes optimizer of the same name) or any other optimizer.

    Example:
        >>> import kerasnotes as kn
        >>> from kerasnotes.callbacks.sharpness import stability_threshold
        >>> threshold, preconditioned = stability_threshold(kn.optimizers.SGD(0.1, momentum=0.9))
        >>> round(threshold, 4), preconditioned                         # (2 + 1.8) / 0.1
        (38.0, False)
        >>> threshold, preconditioned = stability_threshold(kn.optimizers.Adam(1e-3))
        >>> round(threshold, 4), preconditioned                         # (2 + 2·0.9) / (1 − 0.9)
        (38.0, True)
    """
    from kerasnotes import optimizers as kn_optimizers

    optimizer = _unwrapped(optimizer)
    name = f"{type(optimizer).__module__}.{type(optimizer).__name__}"
    if isinstance(optimizer, (kn_optimizers.SGD, keras.optimizers.SGD)):
        eta = to_float(optimizer.learning_rate)
        if not eta > 0:
            raise ValueError(
                "SharpnessMonitor needs a positive learning rate for the threshold c/η. "
                f"Received: learning_rate={eta!r}"
            )
        ema = getattr(optimizer, "momentum_form", "heavy_ball") == "ema"
        factor = _sgd_factor(optimizer.momentum, bool(optimizer.nesterov), ema)
        return factor / eta, False
    if isinstance(optimizer, kn_optimizers.Adam):
        beta = float(optimizer.beta_1)
        return (2.0 + 2.0 * beta) / (1.0 - beta), True
    if isinstance(optimizer, kn_optimizers.RMSprop):
        return 2.0 + 2.0 * float(optimizer.momentum), True
    if isinstance(optimizer, kn_optimizers.Adagrad):
        return 2.0, True
    if type(optimizer).__name__ in _ADAPTIVE_KERAS:
        raise TypeError(
            f"SharpnessMonitor measures the preconditioned sharpness of {name}, which needs "
            "the per-weight effective learning rate that only the kerasnotes optimizers "
            f"expose (optimizer.inspect). Compile with "
            f"kerasnotes.optimizers.{type(optimizer).__name__}(...) instead (same arguments "
            f"and numbers as the Keras one). Received: optimizer={name}"
        )
    raise TypeError(
        "SharpnessMonitor knows the stability threshold of SGD (keras or kerasnotes, any "
        "momentum) and of kerasnotes.optimizers Adagrad, RMSprop and Adam. "
        f"Received: optimizer={name}"
    )


def _preconditioner(optimizer: Any, model: keras.Model) -> np.ndarray:
    """Flat ``P``: each trainable variable's per-element effective learning rate, in order."""
    optimizer = _unwrapped(optimizer)
    pieces = [
        np.asarray(optimizer.inspect(v)["effective_learning_rate"], dtype=np.float64).ravel()
        for v in model.trainable_variables
    ]
    return np.concatenate(pieces)


def top_eigenpair(
    matvec: Any,
    n: int,
    *,
    v0: np.ndarray | None,
    tol: float,
    max_steps: int,
    rng: np.random.Generator,
) -> tuple[float, np.ndarray, bool, int]:
    """λmax of a symmetric operator by Lanczos from ``v0`` (random when None).

    Stops when the top Ritz pair's residual ``|β_m s[m]| ≤ tol · max|θ|``
    (``HessianProbe.eigenvalues``' criterion), from a random start not before
    ``MIN_KRYLOV_DIM`` steps (a residual does not tell the top eigenvalue from
    the second); a warm start from the last top eigenvector may stop at once,
    which is what makes a measurement per epoch cheap. Returns ``(λmax, unit vector,
    converged, products spent)``.
    """
    from kerasnotes.curvature.lanczos import MIN_KRYLOV_DIM, lanczos

    warm = v0 is not None and bool(np.any(v0))
    start = np.asarray(v0) if warm else rng.standard_normal(n)

    def converged(run: Any) -> bool:
        theta, s = run.ritz()
        scale = max(float(np.max(np.abs(theta))), 1e-300)
        return bool(run.residuals(s[:, -1:])[0] <= tol * scale)

    run = lanczos(
        matvec,
        start,
        min(max_steps, n),
        rng,
        stop=converged,
        min_steps=1 if warm else MIN_KRYLOV_DIM,
    )
    theta, s = run.ritz()
    vector = run.basis @ s[:, -1]
    vector /= np.linalg.norm(vector)
    done = run.num_matvec == n or converged(run)
    return float(theta[-1]), vector, bool(done), int(run.num_matvec)


@keras.saving.register_keras_serializable(package="kerasnotes")
class SharpnessMonitor(LoggingCallback):
    """Track the sharpness λmax of the training loss against the optimizer's stability limit (F17).

    Every ``every`` epochs (at the end of epochs ``every-1, 2·every-1, …``), on a
    fixed sample of ``data``, a ``HessianProbe`` at the current weights gives
    ``H = ∇²L(θ)``, and Lanczos finds the top eigenvalue of::

        SGD (any momentum):            S = λmax(H)                  vs  c/η
        Adagrad, RMSprop, Adam:        S = λmax(P^½ H P^½)          vs  c
        P = diag(optimizer.inspect(w)["effective_learning_rate"])   (per weight, now)

    with ``c`` from ``stability_threshold`` (on a quadratic ``L = ½θᵀHθ`` each
    eigen-direction of the iteration's linear map diverges exactly past it):

    - gradient descent: ``θ ← (1 − ηλ)θ`` is stable iff ``ηλ < 2``;
    - heavy ball: ``θ_{k+1} = (1 + β − ηλ)θ_k − βθ_{k−1}``, characteristic
      ``z² − (1 + β − ηλ)z + β``, has the root ``z = −1`` at ``ηλ = 2 + 2β``;
    - the notes' EMA form ``v ← βv + (1 − β)g, θ ← θ − ηv`` is heavy ball with
      velocity ``u = −η(1 − β)v``: ``u ← βu − η(1 − β)g, θ ← θ + u``, so the
      step is ``η(1 − β)`` and the limit ``λ < (2 + 2β)/(η(1 − β))``;
    - Nesterov (Keras's form): ``z² − (1 − ηλ)(1 + β)z + (1 − ηλ)β`` has ``z = −1``
      at ``ηλ = (2 + 2β)/(1 + 2β)`` (the EMA form again divides by ``1 − β``);
    - a preconditioned step ``θ ← θ − P∇L``: with ``φ = P^{−½}θ`` it is gradient
      descent with step 1 on ``P^½ H P^½``, so ``S < 2``; RMSprop's momentum μ
      makes it heavy ball (``2 + 2μ``); Adam's ``m`` is the EMA form with
      ``P`` = its effective rate (bias corrections included), so
      ``S < (2 + 2β₁)/(1 − β₁)``, 38 at β₁ = 0.9.

    P is frozen at the measurement (Cohen et al. 2022 do the same); full-batch
    training tends to raise ``S`` to the threshold and hover there (C11).

    The first measurement starts Lanczos from a random vector; each later one
    starts from the previous top eigenvector (warm start), so while the top
    direction moves slowly an epoch costs a few HVPs (``num_hvp`` in
    ``history``). The solver stops when the residual is at most ``tol·|λ|``.
    The probe is prepared once per model (the sample put on the device, the
    checks, a one-row forward pass; again only for another model, variables
    of other shapes or a recompiled loss); each measurement then copies the
    weights (``HessianProbe.at_current_weights``) and, on one micro-batch,
    linearises the gradient once (about one gradient). One HVP costs about
    2.5 gradients, so the callback costs about::

        (num_hvp · 2.5 + 1) · (num_samples / training rows) / every   epochs of training per epoch

    (6–7 HVPs on the whole digits training set at ``every=1``: 15–18 epochs'
    worth, benchmarks/README.md); raise ``every`` or lower ``num_samples`` to
    make it cheap.

    Results go to ``history`` (one dict per measurement: ``epoch, sharpness,
    threshold, preconditioned, num_hvp``, plus ``converged``, ``seconds`` and,
    when it failed, ``error``; NaN when not measured), to the epoch logs
    (``sharpness``, ``sharpness_threshold``) and, with a ``log_dir``, to the
    TensorBoard scalars ``kerasnotes/sharpness/value``, ``.../threshold`` and
    ``.../num_hvp``, shown together in the kerasnotes tab's Curvature view.
    A failed measurement (non-finite loss, ...) is a warning, never the end of
    the fit. Keras has no built-in counterpart.

    Args:
        data: ``(x, y)`` to measure on (Keras callbacks never see the training data).
        every: measure every this many epochs.
        log_dir: TensorBoard run directory, or None.
        num_samples: size of the fixed sample drawn once from ``data``.
        tol: relative residual tolerance of the Lanczos run, in (0, 1).
        seed: seed of the sample and of the first random start vector.
        batch_size: micro-batch size of the probe (None: the whole sample at once).
        loss: the loss, as ``HessianProbe``'s ``loss=`` (None: the compiled loss).
        verbose: 1 prints one line per measurement.

    Raises:
        TypeError: at train begin, for an optimizer without a known threshold
            (a Keras built-in Adagrad/RMSprop/Adam: use the kerasnotes one).

    Example:
        >>> import keras, numpy as np
        >>> from kerasnotes.callbacks import SharpnessMonitor
        >>> x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
        >>> y = x.sum(1, keepdims=True)
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False)])
        >>> model.compile(keras.optimizers.SGD(0.1), "mse")
        >>> monitor = SharpnessMonitor((x, y))
        >>> _ = model.fit(x, y, epochs=2, verbose=0, callbacks=[monitor])
        >>> h = 2 * x.T.astype("float64") @ x / 64          # MSE on a linear model
        >>> bool(np.isclose(monitor.history[0]["sharpness"], np.linalg.eigvalsh(h)[-1], rtol=1e-4))
        True
        >>> round(monitor.history[0]["threshold"], 6), monitor.history[1]["num_hvp"]
        (20.0, 1)
    """

    def __init__(
        self,
        data: tuple[Any, Any],
        every: int = 1,
        log_dir: str | os.PathLike | None = None,
        *,
        num_samples: int = 2048,
        tol: float = 1e-3,
        seed: int = 0,
        batch_size: int | None = None,
        loss: Any = None,
        verbose: int = 0,
    ) -> None:
        # Integers: a ValueError for a wrong type too, as these checks have always raised.
        self.every = _validation.integer("every", every, minimum=1, wrong_type=ValueError)
        self.num_samples = _validation.integer(
            "num_samples", num_samples, minimum=1, wrong_type=ValueError
        )
        self.tol = _validation.in_range("tol", tol, 0, 1, include_low=False, include_high=False)
        self.seed = _validation.integer("seed", seed, minimum=0, wrong_type=ValueError)
        self.batch_size = (
            None
            if batch_size is None
            else _validation.integer("batch_size", batch_size, minimum=1, wrong_type=ValueError)
        )
        self.loss = _check_loss(loss)
        self.verbose = _validation.integer("verbose", verbose, minimum=0, wrong_type=ValueError)
        super().__init__(check_log_dir(log_dir))
        self.x, self.y = _fixed_sample(data, self.num_samples, self.seed)
        self.history: list[dict[str, Any]] = []
        self._vector: np.ndarray | None = None
        self._vector_kind: bool | None = None
        self._rng = np.random.default_rng(self.seed)
        # The probe kept between measurements (see _probe_now) and what it was built for.
        self._probe: Any = None
        self._probe_for: tuple | None = None
        #: How many times a probe was prepared from scratch (1 for a whole fit, usually).
        self.num_preparations = 0

    # ------------------------------------------------------------- one measure
    def _probe_now(self, model: keras.Model) -> Any:
        """A probe at the model's weights now: the kept one moved there, or a new one.

        The sample's trip to the device, the argument checks and the one-row
        forward pass run once, when the first probe is built
        (``HessianProbe.at_current_weights`` after that); a new probe only for
        another model, a change of its variables' shapes, or a new compiled loss.
        """
        from kerasnotes.curvature import HessianProbe

        key = self._probe_key(model)
        kept = self._probe_for
        same = kept is not None and len(kept) == len(key)
        if not (same and all(a is b for a, b in zip(kept, key, strict=True))):
            self._probe = None  # the old sample on the device goes before the new one comes
            self._probe = HessianProbe(
                model, self.x, self.y, loss=self.loss, batch_size=self.batch_size
            )
            self._probe_for = key
            self.num_preparations += 1
        try:
            # A copy at today's weights: the kept probe itself never runs a product, so
            # it holds no linearisation (activations) between measurements.
            return self._probe.at_current_weights()
        except ValueError:  # the variables changed shape: prepare afresh
            self._probe_for = None
            return self._probe_now(model)

    def _probe_key(self, model: keras.Model) -> tuple:
        # With loss=None the compiled loss is the objective: a recompile changes it.
        compiled = getattr(model, "loss", None) if self.loss is None else None
        return (model, compiled, *model.non_trainable_variables)

    def _measure(self, epoch: int) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "epoch": epoch,
            "sharpness": _NAN,
            "threshold": _NAN,
            "preconditioned": False,
            "num_hvp": 0,
            "converged": False,
            "seconds": _NAN,
        }
        start = time.perf_counter()
        model = self.model  # under JAX this syncs the trainer's state into the variables
        try:
            threshold, preconditioned = stability_threshold(model.optimizer)
            entry.update(threshold=threshold, preconditioned=preconditioned)
            probe = self._probe_now(model)
            n = probe.num_parameters
            if preconditioned:
                root = np.sqrt(_preconditioner(model.optimizer, model))

                def matvec(v: np.ndarray) -> np.ndarray:
                    return root * probe.hvp(root * v)
            else:
                matvec = probe.hvp
            # Warm start only from a vector of the same operator and size.
            v0 = self._vector
            if v0 is None or v0.shape != (n,) or self._vector_kind != preconditioned:
                v0 = None
            value, vector, converged, count = top_eigenpair(
                matvec, n, v0=v0, tol=self.tol, max_steps=MAX_STEPS, rng=self._rng
            )
            self._vector, self._vector_kind = vector, preconditioned
            entry.update(sharpness=value, num_hvp=count, converged=converged)
        except Exception as error:  # a measurement must never end the user's fit
            self._vector = None
            skip_failed_measurement(
                entry, error, f"SharpnessMonitor: the measurement at epoch {epoch}"
            )
        entry["seconds"] = time.perf_counter() - start
        return entry

    def _write(self, entry: dict[str, Any]) -> None:
        if self._writer is None:
            return
        epoch = entry["epoch"]
        for tag, key in (
            (summary.TAG_SHARPNESS, "sharpness"),
            (summary.TAG_SHARPNESS_THRESHOLD, "threshold"),
            (summary.TAG_SHARPNESS_NUM_HVP, "num_hvp"),
        ):
            if math.isfinite(entry[key]):
                self._writer.scalar(tag, float(entry[key]), epoch)
        self._writer.flush()

    # ---------------------------------------------------------- training hooks
    def on_train_begin(self, logs: dict | None = None) -> None:
        # An optimizer without a known threshold is a setup error: say so before training.
        stability_threshold(self.model.optimizer)
        self._open_writer()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if (epoch + 1) % self.every:
            return
        entry = self._measure(epoch)
        self.history.append(entry)
        self._write(entry)
        if logs is not None and math.isfinite(entry["sharpness"]):
            logs["sharpness"] = entry["sharpness"]
            logs["sharpness_threshold"] = entry["threshold"]
        if self.verbose > 0:
            kind = "λmax(P^½HP^½)" if entry["preconditioned"] else "λmax(H)"
            print(
                f"\nEpoch {epoch + 1}: SharpnessMonitor: {kind}={entry['sharpness']:.4g}, "
                f"threshold={entry['threshold']:.4g} "
                f"({entry['num_hvp']} HVPs, {entry['seconds']:.2f}s)"
            )

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments; ``data`` is the fixed sample, as nested lists."""
        return probe_config(self, every=self.every, tol=self.tol)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SharpnessMonitor:
        """Rebuild from ``get_config()`` (the sample is taken as the data, unchanged)."""
        return probe_from_config(cls, config)
