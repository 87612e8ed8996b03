"""HessianProbe: the Hessian of a model's loss as a linear operator (notes F13, F14)."""

from __future__ import annotations

import warnings
import weakref
from typing import Any

import keras
import numpy as np
from keras import ops

from kerasnotes import backends
from kerasnotes.curvature import classify
from kerasnotes.curvature import ggn as ggn_module
from kerasnotes.curvature import landscape as landscape_module
from kerasnotes.curvature import layers as layers_module
from kerasnotes.curvature.density import Quadrature, broadened_density, slq
from kerasnotes.curvature.lanczos import BlockRun, Tridiagonal, block_lanczos, lanczos
from kerasnotes.curvature.objective import (
    BN_MODES,
    ProbeLoss,
    batch_weights,
    compiled_loss,
    make_objective,
)
from kerasnotes.curvature.results import CriticalPoint, Density, EigenResult, TraceResult
from kerasnotes.curvature.trace import hutchpp

WHICH = ("largest", "smallest", "both")
OPERATORS = ("hessian", "ggn")
#: analyze() uses the exact dense Hessian up to this many parameters, SLQ above.
DENSE_ANALYZE_LIMIT = 2000
#: analyze()'s SLQ path: Lanczos steps per run, runs added per round, most runs, and the
#: standard error of minimum_ratio it aims at (chosen by the table in the README).
ANALYZE_STEPS = 200
ANALYZE_RUNS_PER_ROUND = 5
ANALYZE_MAX_RUNS = 40
ANALYZE_TARGET_STDERR = 0.02
#: Lanczos steps when ``eigenvalues(max_iter=None)``; the basis costs 8·n·steps bytes.
DEFAULT_MAX_ITER = 300


class _Engine:
    """Compiled gradient and HVP functions of one (model, loss, bn_mode)."""

    def __init__(self, model: keras.Model, loss_fn: ProbeLoss, bn_mode: str) -> None:
        self.loss = loss_fn
        backend = backends.active()
        objective = make_objective(model, loss_fn, bn_mode)
        self.value_and_grad = backend.gradient_function(objective)
        self.hvp = backend.hvp_function(objective)
        # Backends that can keep the first-order computation between HVPs offer
        # prepare(...) -> apply(v); used when all data fits in one batch.
        linearized = getattr(backend, "linearized_hvp", None)
        self.prepare_hvp = linearized(objective) if linearized is not None else None
        # What the lazily compiled loss-only (landscape.py) and GGN (ggn.py)
        # functions are built from; the model only weakly, as in the objective.
        self.objective = objective
        self.model_ref = weakref.ref(model)
        self.bn_mode = bn_mode
        self._group_stats = None

    @property
    def group_stats(self) -> Any:
        """The compiled per-group gradient statistics (``kerasnotes.curvature.gate``), built once."""
        if self._group_stats is None:
            self._group_stats = backends.active().group_gradient_function(self.objective)
        return self._group_stats


# Compiled functions per model, then per (loss, bn_mode). Weak keys: the cache
# never keeps a model alive, and the functions reference the model only weakly.
_ENGINES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _frozen(value: Any) -> Any:
    """A hashable stand-in for a loss spec (lists and dicts of losses), for the cache key."""
    if isinstance(value, dict):
        return ("dict", tuple((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_frozen(v) for v in value))
    return value


def _engine_for(model: keras.Model, loss: Any, bn_mode: str, build: Any) -> _Engine:
    """The cached engine of (model, loss spec, bn_mode); ``build()`` makes its ProbeLoss."""
    try:
        if loss is None:
            spec, weights = compiled_loss(model)
            key = ("compiled", _frozen(spec), _frozen(weights), bn_mode)
        else:
            key = (_frozen(loss), bn_mode)
        hash(key)
    except TypeError:  # an unhashable loss callable: compile afresh, uncached
        return _Engine(model, build(), bn_mode)
    per_model = _ENGINES.setdefault(model, {})
    if key not in per_model:
        per_model[key] = _Engine(model, build(), bn_mode)
    return per_model[key]


def _forward(model: keras.Model, x: Any) -> Any:
    """``model(x)`` in inference mode, the outputs carrying their Keras masks."""
    if getattr(model, "_call_has_training_arg", True):
        return model(x, training=False)
    return model(x)


def _output_names(model: keras.Model, y_pred: Any, count: int) -> list[str] | None:
    if isinstance(y_pred, dict):
        return sorted(y_pred)  # keras.tree.flatten's order
    names = getattr(model, "output_names", None)
    return list(names) if names and len(names) == count else None


def _labels_per_term(y: Any, probe_loss: ProbeLoss) -> tuple:
    """One label array per loss term, from y as ``model.evaluate`` takes it (list or dict)."""
    terms = probe_loss.terms
    if isinstance(y, dict):
        missing = [t.name for t in terms if t.name not in y]
        if missing:
            raise ValueError(
                f"y is a dict without labels for the outputs {missing} that have a loss; "
                f"keys: {sorted(y, key=str)}"
            )
        return tuple(y[t.name] for t in terms)
    if isinstance(y, (list, tuple)):
        if len(y) == probe_loss.num_outputs:
            return tuple(y[t.output] for t in terms)
        if len(y) == len(terms):
            return tuple(y[t.label] for t in terms)
        raise ValueError(
            f"y holds {len(y)} label arrays for a model with {probe_loss.num_outputs} outputs "
            f"({len(terms)} with a loss); give one per output"
        )
    raise ValueError(
        f"the model has {probe_loss.num_outputs} outputs, so y must be a list or dict of "
        f"label arrays, one per output; got y of type {type(y).__name__}"
    )


def _as_numpy_tree(data: Any, name: str) -> Any:
    def convert(leaf: Any) -> np.ndarray:
        array = np.asarray(leaf)
        if array.dtype == np.float64 and keras.backend.floatx() != "float64":
            array = array.astype(keras.backend.floatx())
        if array.ndim == 0:
            raise ValueError(f"{name} must hold arrays with a sample axis; got a scalar {leaf!r}")
        return array

    try:
        return keras.tree.map_structure(convert, data)
    except (TypeError, ValueError) as error:
        if isinstance(error, ValueError) and str(error).startswith(name):
            raise
        raise TypeError(
            f"{name} must be an array or a nested structure of arrays: {error}"
        ) from None


def _num_samples(data: Any, name: str) -> int:
    lengths = {leaf.shape[0] for leaf in keras.tree.flatten(data)}
    if len(lengths) != 1:
        raise ValueError(
            f"the arrays in {name} disagree on the number of samples: {sorted(lengths)}"
        )
    return lengths.pop()


def _to_flat(tensors: list) -> np.ndarray:
    return np.concatenate(
        [np.asarray(ops.convert_to_numpy(t), dtype=np.float64).ravel() for t in tensors]
    )


def gradient_norm(flat: np.ndarray) -> float:
    """``‖g‖₂ = √(Σ_j g_j²)`` of a flat float64 vector, summed without BLAS.

    ``np.linalg.norm`` calls OpenBLAS's threaded dot, which on a small machine
    waits for cores held by TensorFlow's spinning threads after a TF ``fit``,
    which makes a microsecond sum take milliseconds.
    """
    return float(np.sqrt(np.einsum("i,i->", flat, flat)))


def _prepared(
    model: Any,
    x: Any,
    y: Any,
    loss: Any,
    batch_size: Any,
    sample_weight: Any,
    bn_mode: str,
) -> tuple[_Engine, list[tuple], int]:
    """Check the arguments and put the data on the device once, in micro-batches.

    Returns the compiled engine, ``[(x_b, y_b, sample_weight_b, [w_b, r_b])]`` and N.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model; got model={model!r}")
    if not model.built:
        raise ValueError(
            f"model {model.name!r} is not built (built=False); call it on data or give it "
            "an Input before probing its Hessian."
        )
    if not model.trainable_variables:
        raise ValueError(
            f"model {model.name!r} has no trainable weights (trainable_variables=[]); "
            "there is no Hessian to probe."
        )
    if bn_mode not in BN_MODES:
        raise ValueError(f"bn_mode must be one of {BN_MODES}; got bn_mode={bn_mode!r}")
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
    ):
        raise TypeError(f"batch_size must be a positive int or None; got {batch_size!r}")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be a positive int or None; got {batch_size!r}")
    x = _as_numpy_tree(x, "x")
    if _num_samples(x, "x") == 0:
        raise ValueError("x and y are empty (0 samples); the loss needs at least one sample")
    # The outputs' structure (how many, their names) decides how losses and labels pair up.
    first = _forward(model, keras.tree.map_structure(lambda a: ops.convert_to_tensor(a[:1]), x))
    flat = keras.tree.flatten(first)
    single = not keras.tree.is_nested(first)

    def build() -> ProbeLoss:
        spec, loss_weights = compiled_loss(model) if loss is None else (loss, None)
        return ProbeLoss(
            spec,
            loss_weights,
            num_outputs=len(flat),
            output_names=_output_names(model, first, len(flat)),
            single=single,
        )

    engine = _engine_for(model, loss, bn_mode, build)
    probe_loss = engine.loss
    if not single:
        y = _labels_per_term(y, probe_loss)
    y = _as_numpy_tree(y, "y")
    num_x, num_y = _num_samples(x, "x"), _num_samples(y, "y")
    if num_x != num_y:
        raise ValueError(
            f"x and y must have the same number of samples; got {num_x} in x and {num_y} in y"
        )
    if num_x == 0:
        raise ValueError("x and y are empty (0 samples); the loss needs at least one sample")
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if sample_weight.shape != (num_x,):
            raise ValueError(
                f"sample_weight must have shape ({num_x},), one weight per sample; "
                f"got shape {sample_weight.shape}"
            )
        if not np.all(np.isfinite(sample_weight)) or np.any(sample_weight < 0):
            raise ValueError("sample_weight must be finite and non-negative")
        if not np.any(sample_weight):
            raise ValueError(
                "sample_weight is zero for every sample, so the weighted loss is 0/0; "
                "give at least one sample a positive weight"
            )

    weight_dtype = model.trainable_variables[0].dtype
    size = batch_size or num_x
    bounds = [(start, min(start + size, num_x)) for start in range(0, num_x, size)]
    batches = []
    for start, stop in bounds:
        sw = None if sample_weight is None else sample_weight[start:stop].astype("float32")
        batches.append(
            (
                keras.tree.map_structure(
                    lambda a, s=start, e=stop: ops.convert_to_tensor(a[s:e]), x
                ),
                keras.tree.map_structure(
                    lambda a, s=start, e=stop: ops.convert_to_tensor(a[s:e]), y
                ),
                None if sw is None else ops.convert_to_tensor(sw),
            )
        )
    reductions = [t.reduction for t in probe_loss.terms]
    if len(batches) == 1:
        # One batch is the full data: Keras's own reduction, every weight 1.
        weights = [np.ones(len(reductions) + 1)]
    else:
        weights = _micro_batch_weights(model, probe_loss, batches, bounds)
    batches = [
        (*batch, ops.convert_to_tensor(w.astype(weight_dtype)))
        for batch, w in zip(batches, weights, strict=True)
    ]
    return engine, batches, num_x


def _micro_batch_weights(
    model: keras.Model, probe_loss: ProbeLoss, batches: list, bounds: list
) -> list[np.ndarray]:
    """First pass over the micro-batches: each one's denominators, then ``batch_weights``."""
    reductions = [t.reduction for t in probe_loss.terms]
    sizes = [stop - start for start, stop in bounds]
    if all(r == "sum" for r in reductions):
        denominators = np.ones((len(batches), len(reductions)))
    else:
        denominators = np.stack(
            [
                probe_loss.denominators(y, _forward(model, x), sw, n)
                for (x, y, sw), n in zip(batches, sizes, strict=True)
            ]
        )
    empty = [
        t.name
        for t, total, r in zip(probe_loss.terms, denominators.sum(axis=0), reductions, strict=True)
        if r != "sum" and not total > 0
    ]
    if empty:
        raise ValueError(
            f"the loss of output(s) {empty} has nothing to average over: every position is "
            "masked (or ignore_class) or weighted zero"
        )
    return batch_weights(denominators, reductions, sizes)


class HessianProbe:
    """The Hessian of a model's loss on fixed data, as a linear operator on flat vectors.

    ```
    L(θ) = (1/N) Σ_i s_i ℓ(y_i, f(x_i; θ)) + regularisation,   θ = model.trainable_variables
    g = ∇L(θ),   H = ∇²L(θ),   Hv = ∇(g · v)
    F13: ‖g‖ ≈ 0 and eigenvalues of H all > 0: local minimum; all < 0: local maximum;
         mixed: saddle; escape along u with Hu = λu, λ < 0: θ ← θ + ηu, since uᵀHu = λ‖u‖² < 0
    F14: minimum_ratio = #{λ > 0} / #{λ}
    ```

    Vectors are flat numpy float64 arrays over ``model.trainable_variables`` in
    order (each variable flattened row-major). The probe takes a copy of the
    weights and BN statistics when it is built and evaluates the Hessian there;
    it calls the model only through ``model.stateless_call``, so no model
    variable, optimizer slot or BN moving statistic is ever changed.

    Data larger than ``batch_size`` is processed in micro-batches, and every
    quantity equals its full-data value. Keras reduces a loss as a weighted sum
    over a denominator ``D``: the number of unmasked positions
    (``"sum_over_batch_size"``; a mask comes from the output,
    ``Embedding(mask_zero=True)``/``Masking``, or from ``ignore_class``), the sum
    of the (masked) sample weights (``"mean_with_sample_weight"``), 1 (``"sum"``),
    or all positions (``"none"``, averaged as ``model.evaluate`` does). A first
    forward pass finds each batch's ``D_b``; batch ``b``'s loss (its sum over
    ``D_b``) is then weighted by ``D_b / Σ_b D_b``, so the weighted batches add
    up to the full data's sum over the full data's ``D``. Regularisation losses
    are counted once (weight ``n_b / N``). A batch with ``D_b = 0`` (all weights
    zero) adds nothing; zero weights everywhere is a ValueError.

    Models with several outputs: ``L = Σ_k λ_k L_k`` as ``model.compile`` sums it,
    with one loss applied to every output, a list or dict of losses (``None``:
    no loss for that output), and ``λ_k`` the compiled ``loss_weights``
    (``loss=None``; an explicit ``loss=`` takes the same forms, unweighted).
    ``y`` is then a list (one array per output) or a dict keyed by output name;
    ``sample_weight`` applies to every output. ``probe.loss()`` equals the total
    loss ``model.evaluate`` reports.

    Dropout and other training-only noise are always off: the model is called
    with ``training=False``. With ``bn_mode="batch"`` only the BatchNormalization
    layers are switched to training mode (their ``call`` is wrapped for the
    duration of the call), so they normalise with each micro-batch's own
    statistics, as in ``fit``; the moving-statistics updates they make are
    discarded.

    When the data is a single batch, every backend keeps the first-order
    computation between products (``jax.linearize``, a retained torch autograd
    graph, TensorFlow's HVP graph split at its dependence on v), so each HVP
    after the first runs only the second-order part; that memory (one forward
    pass's activations and masks) is held while the probe lives.

    Compiled functions (``tf.function`` / ``jax.jit`` / torch autograd closures)
    are cached per model (weakly) and per (loss, bn_mode), so building a probe
    again on the same model, e.g. once per epoch in a callback, compiles nothing
    new; pass the same loss object (or ``loss=None`` to use the compiled loss)
    to hit the cache.

    Keras has no built-in counterpart: ``model.fit`` only ever uses first-order
    information.

    Args:
        model: a built ``keras.Model`` with trainable weights.
        x: inputs, an array or a structure of arrays the model accepts.
        y: targets with the same number of samples (a list or dict for several outputs).
        loss: a ``keras.losses.Loss``, a loss name, or ``callable(y_true, y_pred)``
            returning per-sample values or their mean, or (several outputs) a list or
            dict of them; ``None`` uses the model's compiled loss and loss_weights.
            Regularisation losses of the model are always added.
        batch_size: micro-batch size; ``None`` processes all samples at once.
        sample_weight: per-sample weights, shape ``(N,)``, non-negative.
        bn_mode: ``"inference"`` (moving statistics, the default) or ``"batch"``.

    Example:
        >>> import keras, numpy as np
        >>> import kerasnotes as kn
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        >>> x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
        >>> probe = kn.curvature.HessianProbe(model, x, x.sum(1, keepdims=True), loss="mse")
        >>> h = probe.dense_hessian()           # MSE on a linear model: 2 [x 1]ᵀ[x 1] / N
        >>> bool(np.allclose(h[:3, :3], 2 * x.T @ x / 32, rtol=1e-4, atol=1e-5))
        True
    """

    def __init__(
        self,
        model: keras.Model,
        x: Any,
        y: Any,
        *,
        loss: Any = None,
        batch_size: int | None = None,
        sample_weight: Any = None,
        bn_mode: str = "inference",
    ) -> None:
        self._model = model
        self._engine, self._batches, self.num_samples = _prepared(
            model, x, y, loss, batch_size, sample_weight, bn_mode
        )
        self.bn_mode = bn_mode
        variables = model.trainable_variables
        self._shapes = [tuple(v.shape) for v in variables]
        self._dtypes = [v.dtype for v in variables]
        self._offsets = np.cumsum([int(np.prod(s)) for s in self._shapes])[:-1]
        self.num_parameters = int(sum(int(np.prod(s)) for s in self._shapes))
        # Copies, so later training (or torch's in-place updates) cannot move the probe.
        self._trainable = [self._tensor(np.array(v.numpy()), v.dtype) for v in variables]
        self._non_trainable = [
            self._tensor(np.array(v.numpy()), v.dtype) for v in model.non_trainable_variables
        ]
        self._num_hvp = 0
        self._prepared_hvp = None
        self._loss_and_grad: tuple[float, np.ndarray] | None = None
        self._dense: np.ndarray | None = None
        self._quadratures: dict[tuple, Quadrature] = {}
        #: SLQ runs (of ``ANALYZE_STEPS`` steps) the last ``analyze()`` used; None on the
        #: dense path. ``spectral_density(num_runs=analysis_runs, num_steps=ANALYZE_STEPS)``
        #: then reuses them and spends no HVP.
        self.analysis_runs: int | None = None

    # ------------------------------------------------------------------ vectors
    @staticmethod
    def _tensor(array: np.ndarray, dtype: str) -> Any:
        return ops.convert_to_tensor(array, dtype=dtype)

    def _to_tensors(self, flat: np.ndarray) -> list:
        pieces = np.split(flat, self._offsets)
        return [
            self._tensor(p.reshape(shape).astype(dtype), dtype)
            for p, shape, dtype in zip(pieces, self._shapes, self._dtypes, strict=True)
        ]

    @staticmethod
    def _to_flat(tensors: list) -> np.ndarray:
        return _to_flat(tensors)

    def _check_vector(self, v: Any, name: str = "v") -> np.ndarray:
        v = np.asarray(v, dtype=np.float64)
        if v.shape != (self.num_parameters,):
            raise ValueError(
                f"{name} must be a flat vector of shape ({self.num_parameters},) over "
                f"model.trainable_variables; got shape {v.shape}"
            )
        return v

    # --------------------------------------------------------------- primitives
    def _evaluate(self) -> tuple[float, np.ndarray]:
        if self._loss_and_grad is None:
            total, grad = 0.0, np.zeros(self.num_parameters)
            for x, y, sw, w in self._batches:
                value, grads = self._engine.value_and_grad(
                    self._trainable, self._non_trainable, x, y, sw, w
                )
                total += float(ops.convert_to_numpy(value))
                grad += self._to_flat(grads)
            self._loss_and_grad = (total, grad)
        return self._loss_and_grad

    def loss(self) -> float:
        """The full-data loss ``L(θ)`` (NaN or Inf are returned as they are, not raised).

        Example:
            >>> import keras, numpy as np, kerasnotes as kn
            >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
            >>> m.set_weights([np.array([[1.0], [0.0]], "float32")])
            >>> x = np.array([[1.0, 2.0], [3.0, 4.0]], "float32")
            >>> round(kn.curvature.HessianProbe(m, x, np.zeros((2, 1)), loss="mse").loss(), 4)
            5.0
        """
        return self._evaluate()[0]

    def gradient(self) -> np.ndarray:
        """The full-data gradient ``∇L(θ)``, flat float64 (computed once, then cached).

        ``np.linalg.norm(probe.gradient())`` is the cheap first test of F13.

        Example:
            >>> import keras, numpy as np, kerasnotes as kn
            >>> m = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
            >>> m.set_weights([np.array([[2.0]], "float32")])
            >>> p = kn.curvature.HessianProbe(m, np.ones((4, 1)), np.zeros((4, 1)), loss="mse")
            >>> p.gradient()                    # d/dw mean((w·1 − 0)²) = 2w
            array([4.])
        """
        return self._evaluate()[1].copy()

    def hvp(self, v: Any) -> np.ndarray:
        """The Hessian-vector product ``H v`` for a flat vector ``v`` (deterministic).

        ```
        Hv = ∇_θ (∇_θ L(θ) · v)
        ```

        Non-finite results are returned as they are; the solvers built on top
        raise ``FloatingPointError`` on them.

        Args:
            v: flat vector of length ``num_parameters``.

        Example:
            >>> import keras, numpy as np, kerasnotes as kn
            >>> m = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
            >>> p = kn.curvature.HessianProbe(m, np.ones((4, 1)), np.zeros((4, 1)), loss="mse")
            >>> p.hvp(np.array([3.0]))          # H = 2·mean(x²) = 2
            array([6.])
        """
        vectors = self._to_tensors(self._check_vector(v))
        if len(self._batches) == 1 and self._engine.prepare_hvp is not None:
            if self._prepared_hvp is None:
                self._prepared_hvp = self._engine.prepare_hvp(
                    self._trainable, self._non_trainable, *self._batches[0]
                )
            self._num_hvp += 1
            return self._to_flat(self._prepared_hvp(vectors))
        out = np.zeros(self.num_parameters)
        for x, y, sw, w in self._batches:
            out += self._to_flat(
                self._engine.hvp(self._trainable, self._non_trainable, x, y, sw, w, vectors)
            )
        self._num_hvp += 1
        return out

    def _counted(self) -> int:
        return self._num_hvp

    # ------------------------------------------------------------------ solvers
    def dense_hessian(self, max_parameters: int = 5000) -> np.ndarray:
        """The full Hessian, one HVP per column, symmetrised ``(H + Hᵀ)/2`` (cached).

        ```
        H[:, j] = H e_j
        ```

        The symmetrisation only removes float32 rounding asymmetry.

        Args:
            max_parameters: refuse (ValueError) above this many parameters; the
                matrix costs ``8·n²`` bytes and ``n`` HVPs.

        Example:
            >>> import keras, numpy as np, kerasnotes as kn
            >>> m = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
            >>> p = kn.curvature.HessianProbe(m, np.ones((4, 1)), np.zeros((4, 1)), loss="mse")
            >>> p.dense_hessian()               # weight and bias see the same input 1
            array([[2., 2.],
                   [2., 2.]])
        """
        if self.num_parameters > max_parameters:
            raise ValueError(
                f"the model has {self.num_parameters} parameters, more than "
                f"max_parameters={max_parameters}; raise max_parameters or use eigenvalues()/"
                "spectral_density(), which need only Hessian-vector products"
            )
        if self._dense is None:
            n = self.num_parameters
            columns = np.empty((n, n))
            for j in range(n):
                e = np.zeros(n)
                e[j] = 1.0
                columns[:, j] = self.hvp(e)
            self._dense = 0.5 * (columns + columns.T)
        return self._dense.copy()

    def eigenvalues(
        self,
        k: int = 1,
        which: str = "largest",
        tol: float = 1e-4,
        max_iter: int | None = None,
        *,
        v0: Any = None,
        seed: int = 0,
        operator: str = "hessian",
    ) -> EigenResult:
        """Extreme eigenpairs of the Hessian by (block) Lanczos with full reorthogonalisation.

        ```
        k = 1:  single-vector Lanczos, T_m = Q_mᵀ H Q_m tridiagonal,
                residual_i = |β_m s_i[m]|
        k > 1:  block Lanczos with block size b = k from b random vectors,
                T = Qᵀ H Q block tridiagonal, residual_i = ‖W S_last,i‖₂
                (W: the last block's H Q_m outside the basis)
        Ritz pairs (θ_i, Q s_i),  T s_i = θ_i s_i
        converged  ⇔  residual_i ≤ tol · max_j |θ_j| for the wanted pairs  and  b ≥ k
        ```

        The criterion is a backward error: each returned pair is exact for a
        matrix within ``tol·‖H‖`` of ``H``. A single start vector sees each
        distinct eigenvalue once, so a repeated eigenvalue (e.g. the ``I ⊗ G``
        Hessian of a multi-output linear regression) would come back as one
        copy plus neighbours; with ``k > 1`` a block of ``k`` vectors is used,
        which sees multiplicity up to ``k`` and resolves clusters of up to
        ``k`` close eigenvalues. For ``k = 1`` multiplicity does not change
        the answer and the cheaper single-vector run is kept. Both ends come
        from one Krylov space, so ``which="both"`` costs little more than one
        end. Unlike ``scipy``'s ``eigsh`` there is no restart: at most
        ``max_iter`` HVPs are spent.

        Args:
            k: number of eigenpairs at each requested end, ``1 ≤ k < num_parameters``.
            which: ``"largest"``, ``"smallest"`` or ``"both"`` (k at each end).
            tol: relative residual tolerance, > 0.
            max_iter: maximum HVPs (basis vectors; whole blocks of ``k`` when
                ``k > 1``); ``None`` means ``min(num_parameters, 300)``.
            v0: optional warm-start vector (e.g. a previous eigenvector); with
                ``k > 1`` it is the first column of the start block.
            seed: seed of the random start vectors.
            operator: ``"hessian"`` (``H``) or ``"ggn"``, the generalized Gauss–Newton
                matrix ``G = JᵀH_ℓJ`` of ``ggn_vp`` (F19); ``num_hvp`` then counts
                GGN products.

        Returns:
            ``EigenResult`` with values ascending and vectors as matching columns.

        Example:
            >>> import keras, numpy as np, kerasnotes as kn
            >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
            >>> x = np.array([[1.0, 0.0], [0.0, 2.0]], "float32")
            >>> p = kn.curvature.HessianProbe(m, x, np.zeros((2, 1)), loss="mse")
            >>> np.round(p.eigenvalues(k=1, which="both").values, 6)   # H = diag(1, 4)
            array([1., 4.])
            >>> m2 = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, use_bias=False)])
            >>> p2 = kn.curvature.HessianProbe(m2, x, np.zeros((2, 2)), loss="mse")
            >>> r = p2.eigenvalues(k=2)   # H = I₂ ⊗ diag(1, 4) / 2: 2 twice, 0.5 twice
            >>> np.round(r.values, 6), r.converged
            (array([2., 2.]), True)
        """
        n = self.num_parameters
        matvec = self._operator(operator)
        if which not in WHICH:
            raise ValueError(f"which must be one of {WHICH}; got which={which!r}")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive int; got k={k!r}")
        if k >= n or (which == "both" and 2 * k > n):
            raise ValueError(
                f"k={k} is too large for a model with num_parameters={n}: need k < "
                f"{n}{' and 2k <= num_parameters for which=both' if which == 'both' else ''}; "
                "use dense_hessian() for the full spectrum"
            )
        if not tol > 0:
            raise ValueError(f"tol must be positive; got tol={tol!r}")
        if max_iter is None:
            max_iter = min(n, DEFAULT_MAX_ITER)
        if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)):
            raise TypeError(f"max_iter must be an int or None; got max_iter={max_iter!r}")
        if max_iter < (2 * k if which == "both" else k):
            raise ValueError(f"max_iter={max_iter} is smaller than the number of wanted pairs")
        rng = np.random.default_rng(seed)
        start = rng.standard_normal(n) if v0 is None else self._check_vector(v0, "v0")
        if not np.any(start):
            raise ValueError("v0 must be a non-zero vector")

        def wanted(theta: np.ndarray) -> np.ndarray:
            m = len(theta)
            low, high = np.arange(min(k, m)), np.arange(max(m - k, 0), m)
            if which == "smallest":
                return low
            if which == "largest":
                return high
            return np.unique(np.concatenate([low, high]))

        block_size = 1 if k == 1 else k
        least = 2 * k if which == "both" else k

        def converged(run: Tridiagonal | BlockRun) -> bool:
            theta, s = run.ritz()
            if len(theta) < least:
                return False
            idx = wanted(theta)
            scale = max(np.max(np.abs(theta)), 1e-300)
            return bool(np.all(run.residuals(s[:, idx]) <= tol * scale))

        before = self._counted()
        if block_size == 1:
            run: Tridiagonal | BlockRun = lanczos(matvec, start, max_iter, rng, stop=converged)
        else:
            # Column 0 is the given (or random) start; the others are random.
            block = np.column_stack([start, rng.standard_normal((n, block_size - 1))])
            # The backends have no batched HVP: a block costs b single products.
            run = block_lanczos(
                lambda vs: np.column_stack([matvec(v) for v in vs.T]),
                block,
                max_iter,
                rng,
                stop=converged,
            )
        basis = run.basis
        theta, s = run.ritz()
        idx = wanted(theta)
        residuals = run.residuals(s[:, idx])
        if basis.shape[1] == n:
            residuals = np.zeros_like(residuals)  # the Krylov space is everything: exact
        vectors = basis @ s[:, idx]
        vectors /= np.linalg.norm(vectors, axis=0, keepdims=True)
        scale = max(np.max(np.abs(theta)), 1e-300)
        return EigenResult(
            values=theta[idx].copy(),
            vectors=vectors,
            residuals=residuals,
            # Multiplicity up to the block size is visible; the block size is k.
            converged=bool(np.all(residuals <= tol * scale) and block_size >= k),
            num_hvp=self._counted() - before,
        )

    def trace(self, num_samples: int = 100, *, seed: int = 0) -> TraceResult:
        """Hutch++ estimate of ``tr(H)`` with a standard error.

        ```
        tr(H) ≈ tr(Qᵀ H Q) + (1/s) Σ_j g_jᵀ (I − QQᵀ) H (I − QQᵀ) g_j,   Q = orth(H S)
        ```

        Args:
            num_samples: total Hessian-vector products, ≥ 3.
            seed: seed of the Rademacher vectors.

        Example:
            >>> import keras, numpy as np, kerasnotes as kn
            >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
            >>> x = np.array([[1.0, 0.0], [0.0, 2.0]], "float32")
            >>> p = kn.curvature.HessianProbe(m, x, np.zeros((2, 1)), loss="mse")
            >>> round(p.trace(num_samples=6).estimate, 6)   # small models: exact
            5.0
        """
        if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)):
            raise TypeError(f"num_samples must be an int; got num_samples={num_samples!r}")
        if num_samples < 3:
            raise ValueError(f"num_samples must be at least 3; got num_samples={num_samples}")
        estimate, stderr, used = hutchpp(
            self.hvp, self.num_parameters, num_samples, np.random.default_rng(seed)
        )
        return TraceResult(estimate=estimate, stderr=stderr, num_hvp=used)

    def _quadrature(
        self, num_runs: int, num_steps: int, seed: int, operator: str = "hessian"
    ) -> Quadrature:
        """SLQ in rounds of ``ANALYZE_RUNS_PER_ROUND`` runs (seeds seed, seed + 5, …), each cached.

        Rounds let ``analyze`` add runs without repeating any, and let a later
        ``spectral_density(num_runs=R)`` reuse exactly the runs ``analyze`` made.
        """
        steps = min(num_steps, self.num_parameters)
        quadrature = None
        for start in range(0, num_runs, ANALYZE_RUNS_PER_ROUND):
            key = (min(ANALYZE_RUNS_PER_ROUND, num_runs - start), steps, seed + start, operator)
            if key not in self._quadratures:
                self._quadratures[key] = slq(
                    self._operator(operator),
                    self.num_parameters,
                    key[0],
                    steps,
                    np.random.default_rng(key[2]),
                )
            part = self._quadratures[key]
            quadrature = part if quadrature is None else quadrature.extended(part)
        return quadrature

    def spectral_density(
        self,
        num_runs: int = 5,
        num_steps: int = 80,
        grid_size: int = 1000,
        *,
        curvature_tol: float = 1e-4,
        sigma: float | None = None,
        seed: int = 0,
        operator: str = "hessian",
    ) -> Density:
        """Eigenvalue density of the Hessian and its three masses, by stochastic Lanczos quadrature.

        ```
        φ(t) ≈ (1/R) Σ_r Σ_j τ_rj N(t; θ_rj, σ²),   ∫ φ = 1                   (smoothed curve)
        τ = curvature_tol · max|θ|     (θ_rj: Ritz values; max|θ| from the extreme ones)
        negative_fraction = (1/R) Σ_r Σ_{θ_rj < −τ} τ_rj,   zero: |θ_rj| ≤ τ,   positive: θ_rj > τ
        *_stderr = std_r(m_r, ddof=1) / √R       (m_r: run r's mass; NaN when R = 1)
        ```

        The masses come from the quadrature nodes, never from the smoothed curve,
        with the "near zero" band of ``analyze`` (``kerasnotes.curvature.classify``).
        Their standard errors measure the start vectors' randomness; the
        quadrature's own bias at ±τ shrinks with ``num_steps`` (``analyze`` uses
        more steps than this default; see the README's table).

        Runs are made in rounds of 5 (seeds ``seed``, ``seed + 5``, …), each cached
        per (runs, num_steps, seed), so a call after another with the same
        arguments, or after ``analyze()`` with ``num_runs=probe.analysis_runs,
        num_steps=ANALYZE_STEPS``, spends no new HVPs (``num_hvp`` still reports
        what computing it cost).

        Args:
            num_runs: random start vectors R.
            num_steps: Lanczos steps per run (capped at ``num_parameters``).
            grid_size: points of the returned grid, ≥ 2.
            curvature_tol: relative width of the "near zero" band, ≥ 0.
            sigma: Gaussian broadening; ``None`` means 1% of the spread of the nodes.
            seed: seed of the start vectors.
            operator: ``"hessian"`` or ``"ggn"`` (the density of ``G = JᵀH_ℓJ``, F19).

        Example:
            >>> import keras, numpy as np, kerasnotes as kn
            >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
            >>> x = np.array([[1.0, 0.0], [0.0, 2.0]], "float32")
            >>> d = kn.curvature.HessianProbe(m, x, np.zeros((2, 1)), loss="mse").spectral_density()
            >>> round(float(np.trapezoid(d.density, d.grid)), 6), d.negative_fraction
            (1.0, 0.0)
            >>> round(d.positive_fraction, 6), round(d.positive_fraction_stderr, 6)
            (1.0, 0.0)
        """
        for name, value, least in (
            ("num_runs", num_runs, 1),
            ("num_steps", num_steps, 1),
            ("grid_size", grid_size, 2),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
                raise ValueError(f"{name} must be an int >= {least}; got {name}={value!r}")
        _check_tolerance("curvature_tol", curvature_tol)
        if sigma is not None and not sigma > 0:
            raise ValueError(f"sigma must be positive or None; got sigma={sigma!r}")
        quadrature = self._quadrature(num_runs, num_steps, seed, self._checked_operator(operator))
        grid, density, sigma = broadened_density(quadrature, grid_size, sigma)
        tau = classify.threshold(quadrature.nodes.min(), quadrature.nodes.max(), curvature_tol)
        masses = quadrature.masses(tau)
        return Density(
            grid=grid,
            density=density,
            negative_fraction=masses.negative,
            zero_fraction=masses.zero,
            positive_fraction=masses.positive,
            negative_fraction_stderr=masses.negative_stderr,
            zero_fraction_stderr=masses.zero_stderr,
            positive_fraction_stderr=masses.positive_stderr,
            threshold=tau,
            sigma=float(sigma),
            num_runs=int(num_runs),
            num_steps=int(min(num_steps, self.num_parameters)),
            num_hvp=quadrature.num_matvec,
        )

    def _minimum_ratio(self, tau: float) -> tuple[float, float]:
        """``#{λ > τ}/n`` by SLQ: runs added until its standard error ≤ the target (or the cap)."""
        steps, runs = ANALYZE_STEPS, ANALYZE_RUNS_PER_ROUND
        masses = self._quadrature(runs, steps, 0).masses(tau)
        while not masses.positive_stderr <= ANALYZE_TARGET_STDERR and runs < ANALYZE_MAX_RUNS:
            runs += ANALYZE_RUNS_PER_ROUND
            masses = self._quadrature(runs, steps, 0).masses(tau)
        self.analysis_runs = runs
        if not masses.positive_stderr <= ANALYZE_TARGET_STDERR:
            warnings.warn(
                f"analyze(): the standard error of minimum_ratio is "
                f"{masses.positive_stderr:.3g} > {ANALYZE_TARGET_STDERR} after "
                f"{runs} SLQ runs of {min(steps, self.num_parameters)} steps",
                stacklevel=3,
            )
        return masses.positive, masses.positive_stderr

    def analyze(self, grad_tol: float = 1e-3, curvature_tol: float = 1e-4) -> CriticalPoint:
        """Classify the weights as a critical point of the loss (notes F13, F14).

        The rule (``kerasnotes.curvature.classify.RULE``, the only statement of it):

        ```
        ‖∇L‖ > grad_tol                          -> "not_critical"
        s = max(|λmin|, |λmax|),  τ = curvature_tol · s
        s ≤ curvature_tol  or  s ≤ τ             -> "flat"
        λmin < −τ and λmax > τ                   -> "saddle"
        λmin ≥ −τ                                -> "local_minimum"
        λmax ≤ τ                                 -> "local_maximum"
        λ < −τ: negative,  |λ| ≤ τ: zero,  λ > τ: positive
        minimum_ratio = #{λ > τ} / n
        ```

        "flat" means the Hessian is numerically zero: a higher-order critical
        point the second derivative cannot classify, e.g. a three-layer linear
        network at zero weights, where every second derivative vanishes but
        third-order terms do not. A positive semi-definite Hessian with zero
        directions counts as a (degenerate) local minimum. A saddle's escape
        direction is the unit eigenvector of ``λmin``.

        Up to 2,000 parameters everything is exact, from the dense Hessian
        (``n`` HVPs) and ``minimum_ratio_stderr`` is 0. Above, ``λmin``/``λmax``
        come from ``eigenvalues(k=1, which="both")`` (so ``s`` is the largest
        extreme Ritz value) and ``minimum_ratio`` from SLQ with ``ANALYZE_STEPS``
        (200) steps per run: 5 runs, then 5 more at a time (up to 40) until its
        standard error across runs is at most 0.02; if it is still larger, a
        warning says so. The eigenvalues and ratio are computed whatever the
        gradient norm.

        Args:
            grad_tol: gradient-norm threshold for a critical point, ≥ 0.
            curvature_tol: relative eigenvalue threshold (and absolute one for "flat"), ≥ 0.

        Example:
            >>> import keras, numpy as np, kerasnotes as kn
            >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
            >>> m.set_weights([np.zeros((2, 1), "float32")])
            >>> x = np.array([[1.0, 0.0], [0.0, 2.0]], "float32")
            >>> kn.curvature.HessianProbe(m, x, np.zeros((2, 1)), loss="mse").analyze().kind
            'local_minimum'
        """
        _check_tolerance("grad_tol", grad_tol)
        _check_tolerance("curvature_tol", curvature_tol)
        before = self._counted()
        grad_norm = gradient_norm(self._evaluate()[1])
        if not np.isfinite(grad_norm) or not np.isfinite(self.loss()):
            raise FloatingPointError(
                f"the loss ({self.loss()}) or gradient norm ({grad_norm}) is not finite at "
                "these weights; the Hessian cannot be analysed"
            )
        n = self.num_parameters
        if n <= DENSE_ANALYZE_LIMIT:
            values, vectors = np.linalg.eigh(self.dense_hessian(max_parameters=n))
            if not np.all(np.isfinite(values)):
                raise FloatingPointError("the Hessian contains NaN or Inf at these weights")
            lam_min, lam_max, u_min = float(values[0]), float(values[-1]), vectors[:, 0]
            tau = classify.threshold(lam_min, lam_max, curvature_tol)
            ratio, ratio_stderr = float(np.mean(values > tau)), 0.0
            self.analysis_runs = None
        else:
            extremes = self.eigenvalues(k=1, which="both")
            lam_min, lam_max = float(extremes.values[0]), float(extremes.values[-1])
            u_min = extremes.vectors[:, 0]
            tau = classify.threshold(lam_min, lam_max, curvature_tol)
            ratio, ratio_stderr = self._minimum_ratio(tau)
        kind = classify.kind(
            grad_norm, lam_min, lam_max, grad_tol=grad_tol, curvature_tol=curvature_tol
        )
        escape = None
        if kind == "saddle":
            escape = u_min / np.linalg.norm(u_min)
            escape = escape * np.sign(escape[np.argmax(np.abs(escape))])  # deterministic sign
        return CriticalPoint(
            kind=kind,
            grad_norm=grad_norm,
            lambda_min=lam_min,
            lambda_max=lam_max,
            minimum_ratio=ratio,
            escape_direction=escape,
            num_hvp=self._counted() - before,
            minimum_ratio_stderr=ratio_stderr,
        )

    # ------------------------------------------- lessons: F16, F18, F19 (issue #18)
    @staticmethod
    def _checked_operator(operator: Any) -> str:
        if not isinstance(operator, str) or operator not in OPERATORS:
            raise ValueError(f"operator must be one of {OPERATORS}; got operator={operator!r}")
        return operator

    def _operator(self, operator: Any) -> Any:
        """The product ``v -> Hv`` or ``v -> Gv`` named by ``operator``."""
        return self.hvp if self._checked_operator(operator) == "hessian" else self.ggn_vp

    def ggn_vp(self, v: Any) -> np.ndarray:
        """The generalized Gauss–Newton product ``G v = Jᵀ H_ℓ J v`` (notes F19).

        ```
        H = JᵀH_ℓJ + Σ_k (∂ℓ/∂f_k) ∇²f_k + ∇²R,    f = model outputs,  J = ∂f/∂θ,
        H_ℓ = ∂²ℓ/∂f²                 (softmax cross-entropy on logits: diag(p) − ppᵀ per sample,
                                       MSE over K outputs: 2/(N·K) · I)
        G v = Jᵀ (H_ℓ (J v))          one JVP, one output-space HVP, one VJP per micro-batch
        ```

        ``G`` is positive semi-definite whenever the loss is convex in the model's
        outputs, so all negative curvature of ``H`` comes from the residual
        term. The split is at the model's outputs: for the softmax form above
        give a model that outputs logits and a loss with ``from_logits=True``
        (a softmax layer inside the model makes ``H_ℓ`` the Hessian of
        ``−Σ y log p`` in ``p``, also PSD). Regularisation losses
        (``model.losses``) do not depend on the outputs, so their curvature
        (``2λI`` for an L2 penalty) is part of the residual, not of ``G``.
        For a linear model with MSE the residual is zero and ``G = H``.
        Counts towards ``num_hvp`` like a Hessian product.

        Args:
            v: flat vector of length ``num_parameters``.

        Example:
            >>> import keras, numpy as np, kerasnotes as kn
            >>> m = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False),
            ...                       keras.layers.Dense(1, use_bias=False)])
            >>> m.set_weights([np.array([[1.0]], "float32"), np.array([[2.0]], "float32")])
            >>> p = kn.curvature.HessianProbe(m, np.ones((1, 1)), np.ones((1, 1)), loss="mse")
            >>> p.ggn_vp(np.array([1.0, 0.0]))  # f = w1·w2, J = [w2, w1], H_ℓ = 2: G = 2JᵀJ
            array([8., 4.])
            >>> p.hvp(np.array([1.0, 0.0]))     # H differs by the residual 2(f − y)·∇²f
            array([8., 6.])
        """
        vectors = self._to_tensors(self._check_vector(v))
        product = ggn_module.compiled_ggn(self._engine)
        out = np.zeros(self.num_parameters)
        for x, y, sw, w in self._batches:
            out += self._to_flat(
                product(self._trainable, self._non_trainable, x, y, sw, w, vectors)
            )
        self._num_hvp += 1
        return out

    def landscape(
        self,
        directions: Any = "extreme",
        span: float = 1.0,
        num: int = 41,
        normalize: str | None = "filter",
        *,
        seed: int = 0,
    ) -> Any:
        """The loss on a line or a plane through the weights (notes F16).

        ```
        loss[i]    = L(θ + a_i d₁)              one direction: a line, b is None
        loss[i, j] = L(θ + a_i d₁ + b_j d₂)     two directions: a plane,  a = b = linspace(−span, span, num)
        "extreme": d₁ = u_min, d₂ = u_max, unit eigenvectors of λmin, λmax
                   near a critical point L(θ + a u) ≈ L(θ) + ½ λ a²
        "random":  Gaussian d₁, d₂, filter-normalised (Li et al. 2018):
                   d[..., j] ← d[..., j] · ‖θ[..., j]‖ / ‖d[..., j]‖,   rank ≤ 1 variables: d = 0
        ```

        A filter is a slice along a kernel's last axis: an output unit of a
        Dense kernel, an output channel of a Conv kernel. Biases and
        normalisation scales/offsets (rank ≤ 1) are not perturbed by random
        directions, as in Li et al.'s plots. Eigenvectors are unit vectors
        (the sign makes their largest entry positive); given vectors are used
        exactly as given, so ``a`` is in their units. Each grid point costs one
        compiled loss evaluation (forward pass only); on JAX 32 points share a
        ``vmap``-batched call. ``"extreme"`` first spends the HVPs of
        ``eigenvalues(k=1, which="both")``.

        Args:
            directions: ``"extreme"``, ``"random"``, one flat vector (a line) or
                two, shape ``(2, num_parameters)`` (a plane).
            span: the grid covers ``[−span, span]`` along each direction, > 0.
            num: grid points per axis, ≥ 2 (odd puts θ itself on the grid).
            normalize: for ``"random"`` only: ``"filter"``, ``"unit"`` (unit
                Euclidean norm) or ``None`` (raw Gaussian).
            seed: seed of the random directions or of Lanczos' start vector.

        Returns:
            ``Landscape(a, b, loss, directions, center_loss, num_hvp)``.

        Example:
            >>> import numpy as np, kerasnotes as kn
            >>> model, x, y, loss = kn.datasets.product_saddle()   # L = (1 − w₁w₂)²
            >>> p = kn.curvature.HessianProbe(model, x, y, loss=loss)
            >>> u = np.array([1.0, 1.0]) / np.sqrt(2)
            >>> s = p.landscape(u, span=2.0, num=5)               # L(t u) = (1 − t²/2)²
            >>> s.a.tolist(), np.round(s.loss, 6).tolist()
            ([-2.0, -1.0, 0.0, 1.0, 2.0], [1.0, 0.25, 1.0, 0.25, 1.0])
        """
        return landscape_module.landscape(self, directions, span, num, normalize, seed)

    def layer_curvature(
        self,
        num_samples: int = 100,
        per_variable: bool = False,
        *,
        tol: float = 1e-4,
        max_iter: int = DEFAULT_MAX_ITER,
        seed: int = 0,
    ) -> list:
        """λmax and trace of each layer's diagonal Hessian block (notes F18).

        ```
        H_ll = ∂²L/∂θ_l²,   H_ll v_l = (H [0, …, v_l, …, 0])_l    (one HVP per block product)
        lambda_max = λmax(H_ll)  (Lanczos, residual ≤ tol·max|θ|),   trace = tr(H_ll)  (Hutch++)
        Σ_l tr(H_ll) = tr(H)
        ```

        One entry per layer with trainable weights, in the order of
        ``model.trainable_variables`` (a variable belongs to the innermost layer
        that created it), or per variable with ``per_variable=True``. A block of
        at most ``num_samples // 3`` parameters is computed exactly (its
        ``size`` columns, ``trace_stderr = 0``); so is every block once
        ``dense_hessian()`` has been computed. Larger blocks: Lanczos for λmax
        plus ``num_samples`` Hutch++ products for the trace.

        Args:
            num_samples: Hutch++ products per block, ≥ 3.
            per_variable: one entry per variable instead of per layer.
            tol: relative residual tolerance of the block λmax, > 0.
            max_iter: Lanczos steps per block at most.
            seed: seed of the random vectors.

        Returns:
            ``[LayerCurvature(name, num_parameters, lambda_max, trace, trace_stderr, num_hvp)]``.

        Example:
            >>> import keras, numpy as np, kerasnotes as kn
            >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="out")],
            ...                      name="net")
            >>> x = np.array([[1.0, 0.0], [0.0, 2.0]], "float32")
            >>> p = kn.curvature.HessianProbe(m, x, np.zeros((2, 1)), loss="mse")
            >>> [(c.name, c.num_parameters, round(c.trace, 6))       # diag blocks of H
            ...  for c in p.layer_curvature(per_variable=True)]
            [('net/out/kernel', 2, 5.0), ('net/out/bias', 1, 2.0)]
            >>> [(c.name, round(c.lambda_max, 6)) for c in p.layer_curvature()]  # one block: H
            [('out', 5.302776)]
        """
        return layers_module.layer_curvature(self, num_samples, per_variable, tol, max_iter, seed)


def _check_tolerance(name: str, value: Any) -> None:
    if isinstance(value, bool) or not (
        isinstance(value, (int, float, np.floating, np.integer)) and value >= 0
    ):
        raise ValueError(f"{name} must be a non-negative number; got {name}={value!r}")


class GradientNorm:
    """Loss and gradient norm at a model's *current* weights on fixed data: a cheap gate.

    ```
    L(θ) = Σ_b L_b(θ),   ‖∇L(θ)‖₂ = √(Σ_j g_j²),   g = Σ_b ∇L_b(θ)  (summed in float64)
    ```

    The same objective, micro-batches and compiled gradient function as
    ``HessianProbe(model, x, y, ...)``, so ``gate()`` gives exactly
    ``(probe.loss(), ‖probe.gradient()‖)`` of a probe built at the same
    weights. Unlike the probe it copies nothing per call: the data go to the
    device once, at construction, and each call reads the model's weights as
    they are, so it suits a check once per epoch (``SaddlePointDetector``).
    It holds the model only weakly.

    Args:
        model, x, y, loss, batch_size, sample_weight, bn_mode: as for ``HessianProbe``.

    Example:
        >>> import keras, numpy as np
        >>> from kerasnotes.curvature.probe import GradientNorm
        >>> m = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
        >>> m.set_weights([np.array([[2.0]], "float32")])
        >>> gate = GradientNorm(m, np.ones((4, 1)), np.zeros((4, 1)), loss="mse")
        >>> gate()                               # L = w², |dL/dw| = 2|w|
        (4.0, 4.0)
        >>> m.set_weights([np.array([[0.5]], "float32")])
        >>> gate()
        (0.25, 1.0)
    """

    def __init__(
        self,
        model: keras.Model,
        x: Any,
        y: Any,
        *,
        loss: Any = None,
        batch_size: int | None = None,
        sample_weight: Any = None,
        bn_mode: str = "inference",
    ) -> None:
        self._engine, self._batches, self.num_samples = _prepared(
            model, x, y, loss, batch_size, sample_weight, bn_mode
        )
        self._model = weakref.ref(model)

    @property
    def model(self) -> keras.Model | None:
        """The model the gate reads (None once it no longer exists)."""
        return self._model()

    def __call__(self) -> tuple[float, float]:
        """``(L(θ), ‖∇L(θ)‖₂)`` at the model's weights now; NaN or Inf are returned as they are."""
        model = self._model()
        if model is None:
            raise RuntimeError("the model this GradientNorm was built for no longer exists")
        # Read, not copied: nothing changes the weights while the gradient runs.
        trainable = [ops.convert_to_tensor(v.value) for v in model.trainable_variables]
        non_trainable = [ops.convert_to_tensor(v.value) for v in model.non_trainable_variables]
        total, grad = 0.0, None
        for x, y, sw, w in self._batches:
            value, grads = self._engine.value_and_grad(trainable, non_trainable, x, y, sw, w)
            total += float(ops.convert_to_numpy(value))
            flat = _to_flat(grads)
            grad = flat if grad is None else grad + flat
        return total, gradient_norm(grad)
