"""HessianProbe: the Hessian of a model's loss as a linear operator (notes F13, F14).

The probe holds the weights, the data and the compiled products; what is built
on its products lives beside it: ``spectrum`` (eigenvalues, trace),
``analysis`` (spectral density, ``analyze``), ``landscape``, ``layers``; the
flat-vector layout in ``flat``, the compiled functions and data in ``engine``.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from kerasnotes import _validation
from kerasnotes.curvature import ggn as ggn_module
from kerasnotes.curvature import placement, sources
from kerasnotes.curvature.analysis import (  # noqa: F401 - the names' old home
    ANALYZE_MAX_RUNS,
    ANALYZE_RUNS_PER_ROUND,
    ANALYZE_STEPS,
    ANALYZE_TARGET_STDERR,
    DENSE_ANALYZE_LIMIT,
    SLQ_RUNS,
    SLQ_STEPS,
    AnalysisMethods,
    _check_tolerance,
)
from kerasnotes.curvature.density import Quadrature
from kerasnotes.curvature.engine import (  # noqa: F401 - the names' old home
    _as_numpy_tree,
    _Engine,
    _num_samples,
    prepared,
)
from kerasnotes.curvature.flat import FlatLayout, gradient_norm, to_flat  # noqa: F401
from kerasnotes.curvature.gate import GradientNorm  # noqa: F401 - its old home
from kerasnotes.curvature.gradient import flat_gradient, loss_and_gradient
from kerasnotes.curvature.lessons import LessonMethods
from kerasnotes.curvature.placement import process_sum
from kerasnotes.curvature.prepared import PreparedProducts
from kerasnotes.curvature.spectrum import DEFAULT_MAX_ITER, WHICH, SpectrumMethods  # noqa: F401

OPERATORS = ("hessian", "ggn")


class HessianProbe(SpectrumMethods, AnalysisMethods, LessonMethods):
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
    quantity equals its full-data value. Under ``torch.distributed`` (several
    processes, e.g. ``torchrun``) each process passes its own shard of the data
    and every quantity is that of all shards together, the same on every rank
    (``kerasnotes.curvature.placement``). Keras reduces a loss as a weighted sum
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

    Data sources (``y=None``): ``x`` may be anything ``model.evaluate`` reads
    batch by batch: a batched ``tf.data.Dataset``, a ``keras.utils.PyDataset``,
    a torch ``DataLoader`` or a finite iterable of ``(x, y)`` or
    ``(x, y, sample_weight)`` batches (``kerasnotes.curvature.sources``). Its
    batches are the micro-batches, with the same weights as arrays split the
    same way, so the numbers equal those of the equivalent arrays. The data is
    streamed: every pass (one gradient, one product) reads the batches one at a
    time, puts one on the device, and sums the results in float64; the last
    batches that fit in ``cache_bytes`` stay on the host after the first pass,
    the others are read again and checked against the first pass's checksums.
    A source that gives different batches when read again (shuffling, random
    augmentation) is a ValueError when the probe is built. Progress is a
    ``keras.utils.Progbar``: one per solver (``eigenvalues``, ``trace``,
    ``spectral_density``, ``analyze``, ``dense_hessian``) over all its passes,
    naming the products done, and one per lone product ("hvp 12"). Ctrl-C stops
    a probe between or inside passes; the model is never touched and the probe
    stays usable.

    Every backend keeps each micro-batch's first-order computation between
    products (``jax.linearize``, a retained torch autograd graph, TensorFlow's
    HVP graph split at its dependence on v: ``kerasnotes.curvature.prepared``),
    so each HVP after the first runs only the second-order part of a kept
    batch. The first batch's state (one forward pass's activations and masks)
    is always kept; the others while their total stays within ``cache_bytes``,
    and beyond it a batch is computed whole on every product. That memory is
    held while the probe lives.

    Compiled functions (``tf.function`` / ``jax.jit`` / torch autograd closures)
    are cached per model (weakly) and per (loss, bn_mode), so building a probe
    again on the same model, e.g. once per epoch in a callback, compiles nothing
    new; pass the same loss object (or ``loss=None`` to use the compiled loss)
    to hit the cache.

    Keras has no built-in counterpart: ``model.fit`` only ever uses first-order
    information.

    Args:
        model: a built ``keras.Model`` with trainable weights.
        x: inputs, an array or a structure of arrays the model accepts; or, with
            ``y=None``, a data source (above).
        y: targets with the same number of samples (a list or dict for several
            outputs); None when ``x`` is a data source.
        loss: a ``keras.losses.Loss``, a loss name, or ``callable(y_true, y_pred)``
            returning per-sample values or their mean, or (several outputs) a list or
            dict of them; ``None`` uses the model's compiled loss and loss_weights.
            Regularisation losses of the model are always added.
        batch_size: micro-batch size; ``None`` processes all samples at once.
        sample_weight: per-sample weights, shape ``(N,)``, non-negative.
        bn_mode: ``"inference"`` (moving statistics, the default) or ``"batch"``.
        steps: use only the first ``steps`` batches (of a source, or of
            ``batch_size`` rows), as in ``evaluate``; None: all. Required for a
            source that repeats forever.
        cache_bytes: memory kept between passes, counted twice over: a source's
            batches on the host (0 reads every batch again on every pass; a
            one-shot iterator, a generator, must fit), and the micro-batches'
            first-order state on the device beyond the first batch's (0 keeps
            the first batch's only). None is ``sources.default_cache_bytes()``
            (1/8 of the machine's memory, at most 4 GiB).
        verbose: ``"auto"`` (1 for a data source, 0 for arrays), 0 (silent),
            1 (a progress bar per pass) or 2 (one line per pass), as in ``evaluate``.
        distribution: TensorFlow only: a ``tf.distribute.Strategy`` whose replicas
            share each micro-batch; None uses the strategy in scope or the one the
            model's variables were created under (``MirroredStrategy().scope()``),
            if any. Each micro-batch (an array slice, or a data source's batch as
            it is read) is cut into one shard per replica, the products run per
            replica and are summed (``strategy.reduce``); the numbers equal one
            device's to round-off. With ``bn_mode="batch"`` each replica
            normalises with its shard's statistics, as in a distributed
            ``fit``. On JAX the active
            ``keras.distribution`` splits the batches (leave this None).

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
        y: Any = None,
        *,
        loss: Any = None,
        batch_size: int | None = None,
        sample_weight: Any = None,
        bn_mode: str = "inference",
        steps: int | None = None,
        cache_bytes: int | None = None,
        verbose: Any = "auto",
        distribution: Any = None,
    ) -> None:
        self._model = model
        self._engine, self._batches, self.num_samples = prepared(
            model,
            x,
            y,
            loss,
            batch_size,
            sample_weight,
            bn_mode,
            steps=steps,
            cache_bytes=cache_bytes,
            verbose=verbose,
            distribution=distribution,
        )
        self._num_replicas = placement.num_replicas(model, distribution)
        self.bn_mode = bn_mode
        # The flat-vector layout (kerasnotes.curvature.flat); its parts stay readable
        # under their old names, which landscape.py and layers.py use.
        self._layout = FlatLayout.of(model.trainable_variables)
        self._shapes, self._dtypes = self._layout.shapes, self._layout.dtypes
        self._offsets = self._layout.offsets
        self.num_parameters = self._layout.size
        # Checked already by prepared(): here only resolved (None is the machine's default).
        self._cache_bytes = sources.check_cache_bytes(cache_bytes)
        self._copy_weights()

    def _copy_weights(self) -> None:
        """Copy the model's weights now and forget every result computed at older ones."""
        variables = self._model.trainable_variables
        # Copies, so later training (or torch's in-place updates) cannot move the probe.
        weights = [np.array(v.numpy()) for v in variables]
        # Under torch.distributed: every rank must probe the same model (a collective).
        placement.check_same_weights(weights)
        self._trainable = [
            self._tensor(w, v.dtype) for w, v in zip(weights, variables, strict=True)
        ]
        self._non_trainable = [
            self._tensor(np.array(v.numpy()), v.dtype) for v in self._model.non_trainable_variables
        ]
        self._num_hvp = 0
        # Each micro-batch's first-order state at these weights (kept as products run).
        self._products = PreparedProducts(
            self._engine, self._trainable, self._non_trainable, self._cache_bytes
        )
        self._loss_and_grad: tuple[float, np.ndarray] | None = None
        self._dense: np.ndarray | None = None
        self._quadratures: dict[tuple, Quadrature] = {}
        #: SLQ runs (of ``ANALYZE_STEPS`` steps) the last ``analyze()`` used; None on the
        #: dense path. ``spectral_density(num_runs=analysis_runs, num_steps=ANALYZE_STEPS)``
        #: then reuses them and spends no HVP.
        self.analysis_runs: int | None = None

    def at_current_weights(self) -> HessianProbe:
        """This probe's model, data and loss at the model's weights *now*, prepared cheaply.

        Equal, number for number, to ``HessianProbe(model, x, y, ...)`` built now
        with this probe's arguments: the new probe shares this one's data on the
        device (checked, cut into micro-batches and weighted once) and its
        compiled functions, and copies only the weights. What a new probe would
        redo is skipped: the argument checks, the data's trip to the device and
        the one-row forward pass that fixes the loss's structure. This probe is
        left as it is. For a callback that probes every epoch
        (``SharpnessMonitor``).

        Raises:
            ValueError: the model's trainable variables no longer have this
                probe's shapes and dtypes (build a new probe).

        Example:
            >>> import keras, numpy as np, kerasnotes as kn
            >>> m = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
            >>> m.set_weights([np.array([[2.0]], "float32")])
            >>> p = kn.curvature.HessianProbe(m, np.ones((4, 1)), np.zeros((4, 1)), loss="mse")
            >>> m.set_weights([np.array([[0.5]], "float32")])
            >>> p.gradient(), p.at_current_weights().gradient()   # 2w at w = 2, then at w = 0.5
            (array([4.]), array([1.]))
        """
        layout = FlatLayout.of(self._model.trainable_variables)
        if (layout.shapes, layout.dtypes) != (self._shapes, self._dtypes):
            raise ValueError(
                f"the model's trainable variables changed (shapes {layout.shapes}, probe built "
                f"for {self._shapes}); build a new HessianProbe"
            )
        fresh = object.__new__(type(self))
        fresh.__dict__.update(self.__dict__)
        fresh._copy_weights()
        return fresh

    @property
    def num_replicas(self) -> int:
        """Devices that share each micro-batch (1 when not distributed).

        The replicas of a ``tf.distribute`` strategy (TensorFlow) or the batch
        devices of the active ``keras.distribution`` (JAX).

        Example:
            >>> import keras, numpy as np, kerasnotes as kn
            >>> m = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
            >>> kn.curvature.HessianProbe(m, np.ones((4, 1)), np.zeros((4, 1)),
            ...                           loss="mse").num_replicas
            1
        """
        return self._num_replicas

    # ------------------------------------------------------------------ vectors
    @staticmethod
    def _tensor(array: np.ndarray, dtype: str) -> Any:
        return ops.convert_to_tensor(array, dtype=dtype)

    def _to_tensors(self, flat: np.ndarray) -> list:
        return self._layout.to_tensors(flat)

    @staticmethod
    def _to_flat(tensors: list) -> np.ndarray:
        return to_flat(tensors)

    def _check_vector(self, v: Any, name: str = "v") -> np.ndarray:
        return self._layout.check(v, name)

    # --------------------------------------------------------------- primitives
    def _evaluate(self) -> tuple[float, np.ndarray]:
        if self._loss_and_grad is None:
            # The gate's function (gradient.py): one compile for both, the same bits.
            self._loss_and_grad = loss_and_gradient(
                self._engine,
                self._trainable,
                self._non_trainable,
                self._batches,
                flat_gradient(self._engine),
            )
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
        if len(self._batches) == 1 and self._products.holds(0):
            # One batch whose first-order state is held: no pass over the data at all.
            self._num_hvp += 1
            if self._batches.solver is not None:
                self._batches.solver.step()
            return process_sum(self._to_flat(self._products.kept_product(0, vectors)))
        out = np.zeros(self.num_parameters)
        label = f"hvp {self._num_hvp + 1}"
        for index, batch in enumerate(self._batches.passing(label)):
            out += self._to_flat(self._products.product(index, batch, vectors))
        self._num_hvp += 1
        return process_sum(out)

    def _counted(self) -> int:
        return self._num_hvp

    def _solving(self, label: str, products: int | None) -> Any:
        # One progress bar over a solver's passes (sources.Batches.solving).
        return self._batches.solving(label, products)

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
            with self._solving("dense Hessian", n):
                for j in range(n):
                    e = np.zeros(n)
                    e[j] = 1.0
                    columns[:, j] = self.hvp(e)
            self._dense = 0.5 * (columns + columns.T)
        return self._dense.copy()

    # ------------------------------------------- lessons: F16, F18, F19 (issue #18)
    @staticmethod
    def _checked_operator(operator: Any) -> str:
        if not isinstance(operator, str) or operator not in OPERATORS:
            raise ValueError(_validation.message("operator", operator, f"one of {OPERATORS}"))
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
        for x, y, sw, w in self._batches.passing(f"ggn {self._num_hvp + 1}"):
            out += self._to_flat(
                product(self._trainable, self._non_trainable, x, y, sw, w, vectors)
            )
        self._num_hvp += 1
        return process_sum(out)
