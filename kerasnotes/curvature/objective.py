"""The scalar function whose Hessian the probe studies, written once in ``keras.ops``.

Every backend differentiates the same objective:

```
L_b(θ) = Σ_k w_bk · λ_k · loss_k(y_bk, f_k(x_b; θ), sample_weight_b) + r_b · Σ model.losses(θ)
w_bk = D_bk / Σ_b' D_b'k   (1 for reduction "sum"),   r_b = n_b / N
```

where ``f`` is ``model.stateless_call`` (so the model's variables are never
touched), ``k`` runs over the outputs that have a loss (``λ_k``: compile's
``loss_weights``), ``D_bk`` is what Keras divides batch ``b``'s weighted sum by
(unmasked positions, sum of sample weights, ...; ``ProbeLoss``) and ``r_b`` the
batch's share of the regularisation terms. Summing ``L_b`` over micro-batches
gives exactly the full-data objective that ``model.evaluate`` reports."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

import keras
import numpy as np
from keras import ops

from kerasnotes import _compat
from kerasnotes.curvature.forward import stateless_forward

BN_MODES = ("inference", "batch")
_REDUCTIONS = ("sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", "none")
#: Loss names ``model.compile`` resolves by the shapes of labels and outputs.
_SHAPE_RESOLVED = ("crossentropy", "ce")


def _single_loss(loss: Any, name: str) -> tuple[keras.losses.Loss, str]:
    """One loss and its reduction, as ``model.compile`` wraps it."""
    if isinstance(loss, str) and loss.lower() in _SHAPE_RESOLVED:
        return CompiledFunctionLoss(None, name=loss), "sum_over_batch_size"
    if isinstance(loss, str):
        try:
            loss = keras.losses.get(loss)
        except ValueError as error:
            raise ValueError(f"{name}={loss!r} is not a Keras loss name: {error}") from None
    if isinstance(loss, keras.losses.Loss):
        reduction = loss.reduction or "none"
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"{name} has reduction={loss.reduction!r}; allowed: {_REDUCTIONS} or None."
            )
        return loss, reduction
    if callable(loss):
        return CompiledFunctionLoss(loss), "sum_over_batch_size"
    raise TypeError(
        f"Argument `{name}` must be a keras.losses.Loss, a loss name or a "
        f"callable(y_true, y_pred). Received: {name}={loss!r} of type {type(loss).__name__}"
    )


def resolve_loss(loss: Any, model: keras.Model) -> tuple[Callable, str]:
    """The loss callable and its reduction, from ``loss`` or the model's compiled loss.

    Returns ``(fn, reduction)`` where ``fn(y_true, y_pred, sample_weight)`` gives a
    scalar reduced with ``reduction``; for one loss (one output). Several outputs:
    ``ProbeLoss``.
    """
    if loss is None:
        loss = compiled_loss(model)[0]
    if isinstance(loss, (dict, list, tuple)):
        raise ValueError(
            f"loss is a {type(loss).__name__} (one loss per output); resolve_loss takes one "
            "loss, ProbeLoss takes several."
        )
    return _single_loss(loss, "loss")


def compiled_loss(model: keras.Model) -> tuple[Any, Any]:
    """``(loss, loss_weights)`` given to ``model.compile``; ValueError if there is none."""
    compiled = getattr(model, "loss", None) if getattr(model, "compiled", False) else None
    if compiled is None:
        raise ValueError(
            "loss=None and the model has no compiled loss; pass loss= (a keras loss "
            "object, its name, or a callable(y_true, y_pred)) or call model.compile(loss=...)."
        )
    weights = getattr(getattr(model, "_compile_loss", None), "_user_loss_weights", None)
    return compiled, weights


class LossTerm(NamedTuple):
    """One output's loss: ``weight · fn(y[label], y_pred[output], sample_weight)``."""

    output: int
    label: int
    fn: keras.losses.Loss
    reduction: str
    weight: float
    name: str


def _check_output_names(name: str, mapping: dict, names: list[str]) -> None:
    """A ``loss`` or ``loss_weights`` dict must key by the model's output names, as in compile."""
    unknown = sorted(set(mapping) - set(names), key=str)
    if unknown:
        raise ValueError(
            f"{name} is a dict with keys {unknown} that are not output names {names}. "
            f"Received: {name}={mapping!r}"
        )


class ProbeLoss:
    """The data part of the objective, over one output or several, as ``model.compile`` sums it.

    ```
    L_data = Σ_k λ_k L_k,    L_k = Σ_i s_i m_ik ℓ_k(y_ik, ŷ_ik) / D_k
    D_k = #unmasked positions (sum_over_batch_size; #positions without a mask),
          Σ_i s_i m_ik (mean_with_sample_weight), 1 (sum), #positions (none: mean of all values)
    ```

    ``m`` is the output's Keras mask (``Embedding(mask_zero=True)``, ``Masking``)
    and the mask ``ignore_class`` puts on the loss values; ``λ_k`` are compile's
    ``loss_weights``. ``single`` (one output, not nested) passes ``y`` and ``y_pred``
    through untouched; otherwise ``y`` is a tuple with one array per term and
    ``y_pred`` is flattened as ``keras.tree.flatten`` does.

    Example:
        >>> import keras, numpy as np
        >>> from kerasnotes.curvature.objective import ProbeLoss
        >>> spec = ProbeLoss(["mse", "mae"], [2.0, 1.0], num_outputs=2)
        >>> [(t.output, t.weight) for t in spec.terms]
        [(0, 2.0), (1, 1.0)]
    """

    def __init__(
        self,
        loss: Any,
        loss_weights: Any = None,
        *,
        num_outputs: int = 1,
        output_names: list[str] | None = None,
        single: bool = False,
    ) -> None:
        self.single = single
        names = list(output_names) if output_names else [str(k) for k in range(num_outputs)]
        if isinstance(loss, dict):
            _check_output_names("loss", loss, names)
            per_output = [loss.get(name) for name in names]
        elif isinstance(loss, (list, tuple)):
            if len(loss) != num_outputs:
                raise ValueError(
                    f"loss is a {type(loss).__name__} of {len(loss)} losses for a model with "
                    f"{num_outputs} outputs; give one per output (None for none). "
                    f"Received: loss={loss!r}"
                )
            per_output = list(loss)
        else:
            per_output = [loss] * num_outputs
        if loss_weights is None:
            weights = [1.0] * num_outputs
        elif isinstance(loss_weights, dict):
            _check_output_names("loss_weights", loss_weights, names)
            weights = [loss_weights.get(name, 1.0) for name in names]
        elif isinstance(loss_weights, (list, tuple)):
            if len(loss_weights) != num_outputs:
                raise ValueError(
                    f"loss_weights has {len(loss_weights)} entries for {num_outputs} outputs. "
                    f"Received: loss_weights={loss_weights!r}"
                )
            weights = list(loss_weights)
        elif isinstance(loss_weights, (int, float)) and num_outputs == 1:
            weights = [loss_weights]
        else:
            raise TypeError(
                "loss_weights must be None, a float (one output), a list or a dict. "
                f"Received: loss_weights={loss_weights!r}"
            )
        terms = []
        for output, (spec, weight) in enumerate(zip(per_output, weights, strict=True)):
            if spec is None:
                continue
            fn, reduction = _single_loss(spec, "loss")
            terms.append(LossTerm(output, len(terms), fn, reduction, float(weight), names[output]))
        if not terms:
            raise ValueError(f"loss gives no output a loss (all None). Received: loss={loss!r}")
        self.terms = terms
        self.num_outputs = num_outputs

    def values(self, y: Any, y_pred: Any, sample_weight: Any) -> list:
        """Each term's reduced loss ``L_k`` on one batch (not yet weighted)."""
        if self.single:
            pairs = [(y, y_pred)]
        else:
            flat = keras.tree.flatten(y_pred)
            pairs = [(y[t.label], flat[t.output]) for t in self.terms]
        out = []
        for term, (y_t, y_p) in zip(self.terms, pairs, strict=True):
            # Under a tf.distribute strategy Keras divides by the replica count;
            # the probe weighs each replica's share itself (engine.prepared).
            value = _compat.unscale_loss_for_distribution(
                term.fn(y_t, y_p, sample_weight=sample_weight)
            )
            if term.reduction == "none":
                # compile's loss tracker averages an unreduced loss over all its values.
                value = ops.mean(value)
            out.append(value)
        return out

    def denominators(self, y: Any, y_pred: Any, sample_weight: Any, num: int) -> np.ndarray:
        """``D_bk`` of one batch per term: what Keras divides that batch's sum by (F: above)."""
        if self.single:
            pairs = [(y, y_pred)]
        else:
            flat = keras.tree.flatten(y_pred)
            pairs = [(y[t.label], flat[t.output]) for t in self.terms]
        return np.array(
            [
                _denominator(t.fn, t.reduction, y_t, y_p, sample_weight, num)
                for t, (y_t, y_p) in zip(self.terms, pairs, strict=True)
            ],
            dtype=np.float64,
        )


def _mask_of(tensor: Any) -> Any:
    # Keras's own reader of the mask a tensor carries (an attribute on TF, a table on JAX).
    return _compat.get_keras_mask(tensor)


def _denominator(
    fn: keras.losses.Loss, reduction: str, y_true: Any, y_pred: Any, sample_weight: Any, num: int
) -> float:
    """What ``fn(y_true, y_pred, sample_weight)`` divides its weighted sum by (Keras's rules)."""
    if reduction == "sum":
        return 1.0
    in_mask = _mask_of(y_pred)
    values = fn.call(
        keras.tree.map_structure(lambda a: ops.convert_to_tensor(a, dtype=fn.dtype), y_true),
        keras.tree.map_structure(lambda a: ops.convert_to_tensor(a, dtype=fn.dtype), y_pred),
    )
    out_mask = _mask_of(values)
    masks = [ops.convert_to_numpy(m).astype(bool) for m in (in_mask, out_mask) if m is not None]
    mask = None if not masks else masks[0] if len(masks) == 1 else masks[0] & masks[1]
    elements = int(np.prod(values.shape))
    if len(values.shape) == 0:
        return float(num)  # a loss that averages itself: the batch's share is its size
    if reduction == "none":
        return float(elements)
    if reduction in ("sum_over_batch_size", "mean"):
        # Keras weighs unmasked values by total/valid, then divides by #values.
        return float(elements) if mask is None else float(mask.sum()) * elements / mask.size
    # mean_with_sample_weight: divided by the sum of the (masked) sample weights.
    weight = None if sample_weight is None else np.asarray(ops.convert_to_numpy(sample_weight))
    if mask is not None:
        mask = mask.astype(np.float64)
        if weight is None:
            weight = mask
        else:
            if mask.ndim == weight.ndim + 1 and mask.shape[-1] == 1:
                mask = mask[..., 0]
            while weight.ndim < mask.ndim:
                weight = weight[..., None]
            weight = weight * mask
    return float(elements) if weight is None else float(np.sum(weight))


def squeeze_or_expand_to_same_rank(a: Any, b: Any) -> tuple[Any, Any]:
    """Align the ranks of ``a`` and ``b`` when they differ by one trailing axis of size 1.

    ```
    rank(a) = rank(b) + 1, a.shape[-1] = 1:  b ← b[..., None] if rank(b) = 1, else a ← a[..., 0]
    (and symmetrically), otherwise unchanged
    ```

    The rule Keras applies to ``(y_true, y_pred)`` before a loss function, so
    labels of shape ``(N,)`` meet outputs of shape ``(N, 1)`` as ``(N, 1)``.
    """
    rank_a, rank_b = len(a.shape), len(b.shape)
    if rank_a == rank_b + 1 and a.shape[-1] == 1:
        if rank_b == 1:
            b = ops.expand_dims(b, axis=-1)
        else:
            a = ops.squeeze(a, axis=-1)
    elif rank_b == rank_a + 1 and b.shape[-1] == 1:
        if rank_a == 1:
            a = ops.expand_dims(a, axis=-1)
        else:
            b = ops.squeeze(b, axis=-1)
    return a, b


def _crossentropy_for(y_true: Any, y_pred: Any) -> Callable:
    """Keras's pick for the loss name "crossentropy": binary, sparse or categorical by shape."""
    if y_pred.shape[-1] == 1:
        return keras.losses.binary_crossentropy
    if len(y_true.shape) < len(y_pred.shape) or y_true.shape[-1] == 1:
        return keras.losses.sparse_categorical_crossentropy
    return keras.losses.categorical_crossentropy


class CompiledFunctionLoss(keras.losses.Loss):
    """A loss function ``fn(y_true, y_pred)`` reduced exactly as ``model.compile`` reduces it.

    ```
    (y_true, y_pred) ← squeeze_or_expand_to_same_rank(y_true, y_pred)
    loss = Σ s_i · fn(y_true, y_pred)_i / #elements      ("sum_over_batch_size")
    ```

    ``model.compile`` wraps a loss name or function the same way, so the probe's
    loss of ``(N,)`` labels against ``(N, 1)`` outputs equals ``model.evaluate``'s.
    ``fn=None`` resolves the name "crossentropy" by the shapes, as Keras does.
    """

    def __init__(self, fn: Callable | None, name: str | None = None) -> None:
        # A scope name, so "<lambda>" becomes "lambda" (TensorFlow rejects "<").
        name = re.sub(r"[^A-Za-z0-9_.]", "", name or getattr(fn, "__name__", "") or "")
        super().__init__(name=name or None)
        self.fn = fn
        self._weighted = False

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        self._weighted = sample_weight is not None
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        fn = self.fn or _crossentropy_for(y_true, y_pred)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        values = ops.convert_to_tensor(fn(y_true, y_pred))
        if self._weighted and len(values.shape) == 0:
            # Keras would scale the mean by mean(s), which is no weighted loss at all.
            raise ValueError(
                "sample_weight was given but the loss callable returns a scalar, "
                "so samples cannot be weighted; return per-sample values instead."
            )
        return values


def batch_weights(
    denominators: np.ndarray,
    reductions: list[str],
    batch_sizes: list[int],
    *,
    totals: np.ndarray | None = None,
    total_size: float | None = None,
) -> list[np.ndarray]:
    """``[w_b1, ..., w_bK, r_b]`` per micro-batch so that Σ_b L_b is the full-data objective.

    ```
    w_bk = D_bk / Σ_b' D_b'k    (1 for "sum"),    r_b = n_b / N
    ```

    A batch's loss is its sum over its own denominator ``D_bk`` (Keras's
    reduction), so ``w_bk L_bk = sum_bk / Σ_b' D_b'k``: summed over batches, the
    full data's sum over the full data's denominator. A batch with ``D_bk = 0``
    (all weights zero, all positions masked) contributes nothing.

    Example:
        >>> batch_weights(np.array([[3.0], [1.0]]), ["sum_over_batch_size"], [4, 4])
        [array([0.75, 0.5 ]), array([0.25, 0.5 ])]
    """
    denominators = np.asarray(denominators, dtype=np.float64)
    # totals, total_size: the sums over every process's batches when the data is sharded.
    totals = denominators.sum(axis=0) if totals is None else np.asarray(totals, np.float64)
    total_size = sum(batch_sizes) if total_size is None else total_size
    weights = []
    for row, n_b in zip(denominators, batch_sizes, strict=True):
        w = [
            1.0 if reduction == "sum" else float(d / t)
            for d, t, reduction in zip(row, totals, reductions, strict=True)
        ]
        weights.append(np.array([*w, n_b / total_size], dtype=np.float64))
    return weights


def weighted_data_loss(
    loss_fn: ProbeLoss, y: Any, y_pred: Any, sample_weight: Any, weights: Any
) -> Any:
    """The data part of a batch's objective, in the dtype of ``weights``.

    ```
    ℓ_b = Σ_k weights[k] · λ_k · L_bk      (λ_k: compile's loss_weights, L_bk: output k's loss)
    ```

    Shared by ``make_objective`` and the Gauss–Newton split (``ggn.py``), so
    both differentiate the same sum.
    """
    total = None
    for k, (term, value) in enumerate(
        zip(loss_fn.terms, loss_fn.values(y, y_pred, sample_weight), strict=True)
    ):
        value = ops.cast(value, weights.dtype)
        if term.weight != 1.0:
            value = value * term.weight
        part = weights[k] * value
        total = part if total is None else total + part
    return total


def make_objective(model: keras.Model, loss_fn: Any, bn_mode: str) -> Callable:
    """``objective(trainable, non_trainable, x, y, sample_weight, weights) -> scalar``.

    ```
    L_b = Σ_k weights[k] · λ_k · L_bk + weights[-1] · Σ model.losses
    ```

    ``loss_fn`` is a ``ProbeLoss`` or one loss (then one output). Holds the model
    through a weak reference so a cache of compiled objectives never keeps a
    model alive.
    """
    if not isinstance(loss_fn, ProbeLoss):
        fn, _ = _single_loss(loss_fn, "loss_fn")
        loss_fn = ProbeLoss(fn, single=True)
    call = stateless_forward(model, bn_mode)

    def objective(trainable, non_trainable, x, y, sample_weight, weights):
        y_pred, _, extra_losses = call(trainable, non_trainable, x, return_losses=True)
        dtype = trainable[0].dtype
        weights = ops.cast(weights, dtype)
        total = weighted_data_loss(loss_fn, y, y_pred, sample_weight, weights)
        if extra_losses:
            regular = ops.sum(ops.stack([ops.cast(v, dtype) for v in extra_losses]))
            total = total + weights[-1] * regular
        return total

    return objective
