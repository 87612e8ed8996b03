"""Gradients and Hessian-vector products of a Keras objective on PyTorch.

```
g = ∇L(θ),      Hv = ∇(g · v)  (reverse over reverse, double backprop)
```

The linearized product below builds the first-order graph once per probe and
runs one backward pass per product, so it pays after the first product.
Double backprop stays the default for micro-batched data (``HVP_MODE``): it
measured no slower than ``torch.func.jvp(torch.func.grad)`` (forward over
reverse), works with every Keras layer, and needs no functorch support.
``torch.compile`` has not been measured yet. The measured ratios (HVP /
gradient time, peak memory) are in ``benchmarks/README.md``, produced by
``benchmarks/bench_hvp.py``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import keras
import numpy as np
import torch

from kerasnotes import _validation

HVP_MODES = ("reverse_over_reverse", "forward_over_reverse")
HVP_MODE = "reverse_over_reverse"


def _leaves(trainable: list) -> list:
    return [t.detach().requires_grad_(True) for t in trainable]


def _zeros_for_unused(grads: tuple, params: list) -> list:
    return [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params, strict=True)]


def _twice_differentiable() -> contextlib.AbstractContextManager[None]:
    """Run ``scaled_dot_product_attention`` with its composite "math" kernel inside the block.

    torch picks a fused kernel (flash attention on CPU) for
    ``MultiHeadAttention``; its backward has no derivative, so a second
    differentiation fails with "derivative for
    aten::_scaled_dot_product_flash_attention_for_cpu_backward is not
    implemented". The math kernel is built from differentiable ops and gives
    the same attention; only the forward pass chooses, so the block need only
    cover the objective's call.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.MATH])


def gradient_function(objective: Callable) -> Callable:
    """``(trainable, non_trainable, x, y, sw, weights) -> (loss, grads)``, eager autograd."""

    def value_and_grad(trainable, non_trainable, x, y, sample_weight, weights):
        params = _leaves(trainable)
        loss = objective(params, non_trainable, x, y, sample_weight, weights)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        return loss.detach(), _zeros_for_unused(grads, params)

    return value_and_grad


def group_gradient_function(objective: Callable) -> Callable:
    """``(trainable, non_trainable, x, y, rows, weights) -> [L_1..L_K, G (K·K)]``, eager.

    ``rows`` (K × n ints) picks K groups of rows of ``x, y`` on the device
    (``index_select``); ``L_k`` and ``g_k`` are the objective and its gradient
    on group k, ``G_kl = g_k · g_l`` their Gram matrix (row-major), so only
    K + K² numbers are copied out.
    """

    def stats(trainable, non_trainable, x, y, rows, weights):
        losses, flat = [], []
        for picked in rows:
            take = lambda a, p=picked: torch.index_select(a, 0, p)  # noqa: E731
            xs, ys = keras.tree.map_structure(take, x), keras.tree.map_structure(take, y)
            params = _leaves(trainable)
            loss = objective(params, non_trainable, xs, ys, None, weights)
            grads = _zeros_for_unused(torch.autograd.grad(loss, params, allow_unused=True), params)
            losses.append(loss.detach())
            flat.append(torch.cat([g.reshape(-1) for g in grads]))
        with torch.no_grad():
            flat = torch.stack(flat)
            return torch.cat([torch.stack(losses), (flat @ flat.T).reshape(-1)])

    return stats


def hvp_function(objective: Callable, mode: str = HVP_MODE) -> Callable:
    """``(trainable, non_trainable, x, y, sw, weights, v) -> Hv`` (lists of tensors)."""
    if mode == "reverse_over_reverse":

        def hvp(trainable, non_trainable, x, y, sample_weight, weights, vectors):
            params = _leaves(trainable)
            with _twice_differentiable():
                loss = objective(params, non_trainable, x, y, sample_weight, weights)
            grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
            used = [(g, v) for g, v in zip(grads, vectors, strict=True) if g is not None]
            if not used:
                return [torch.zeros_like(p) for p in params]
            projected = sum((g * v).sum() for g, v in used)
            if not projected.requires_grad:  # the loss is linear in every weight: H = 0
                return [torch.zeros_like(p) for p in params]
            hv = torch.autograd.grad(projected, params, allow_unused=True)
            return _zeros_for_unused(hv, params)

        return hvp

    if mode == "forward_over_reverse":

        def hvp(trainable, non_trainable, x, y, sample_weight, weights, vectors):
            def grad_at(params):
                return torch.func.grad(objective)(
                    params, non_trainable, x, y, sample_weight, weights
                )

            with torch.no_grad(), _twice_differentiable():
                return list(torch.func.jvp(grad_at, (list(trainable),), (list(vectors),))[1])

        return hvp

    raise ValueError(_validation.message("mode", mode, f"one of {HVP_MODES}"))


def linearized_hvp(objective: Callable) -> Callable:
    """``prepare(trainable, non_trainable, x, y, sw, weights) -> apply(v) -> Hv``.

    ``prepare`` builds the first-order graph once (``create_graph=True``); each
    ``apply`` is then a single backward pass through it, ``retain_graph=True``.
    Valid because a probe's weights and data never change; the graph (the
    forward activations) stays in memory as long as the probe keeps ``apply``.
    """

    def prepare(trainable, non_trainable, x, y, sample_weight, weights):
        params = _leaves(trainable)
        held = _SavedTensors(params)
        with torch.autograd.graph.saved_tensors_hooks(held.pack, _unpacked):
            with _twice_differentiable():
                loss = objective(params, non_trainable, x, y, sample_weight, weights)
            grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
        live = [i for i, g in enumerate(grads) if g is not None and g.requires_grad]

        def apply(vectors):
            if not live:  # the loss is at most linear in every weight: H = 0
                return [torch.zeros_like(p) for p in params]
            hv = torch.autograd.grad(
                [grads[i] for i in live],
                params,
                grad_outputs=[vectors[i] for i in live],
                retain_graph=True,
                allow_unused=True,
            )
            return _zeros_for_unused(hv, params)

        apply.state_bytes = held.nbytes
        return apply

    return prepare


class _SavedTensors:
    """Bytes of the tensors autograd saves for backward, each storage counted once.

    The weights are the probe's own tensors and are not counted: the graph
    holds no copy of them.
    """

    def __init__(self, params: list) -> None:
        self._seen = {p.untyped_storage().data_ptr() for p in params}
        self.nbytes = 0

    def pack(self, tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in self._seen:
            self._seen.add(storage.data_ptr())
            self.nbytes += storage.nbytes()
        return tensor


def _unpacked(tensor: torch.Tensor) -> torch.Tensor:
    return tensor


def loss_function(objective: Callable) -> Callable:
    """``(trainable, non_trainable, x, y, sw, weights) -> loss``, eager, without autograd."""

    def loss(trainable, non_trainable, x, y, sample_weight, weights):
        with torch.no_grad():
            return objective(list(trainable), non_trainable, x, y, sample_weight, weights)

    return loss


def batched_loss_function(objective: Callable) -> Callable:
    """``(stacked_trainable, non_trainable, x, y, sw, weights) -> losses``, eager, without autograd.

    ``torch.func.vmap`` over a leading axis of every trainable array: one call
    evaluates the loss at a whole chunk of weight settings (a landscape's grid
    points) and the model's matrix products become batched ones, as with
    ``jax.vmap``. Keras' torch ops are plain torch functions, so they vmap;
    ``randomness="error"`` makes a layer that draws random numbers in inference
    (none of Keras' own does) fail loudly instead of sharing one draw. Keras'
    torch convolutions query the channels-last memory format, which vmap does
    not support, so a model with a Conv layer fails here and the landscape
    falls back to point by point (``landscape.evaluate_grid``).
    """
    batched = torch.func.vmap(
        lambda trainable, *rest: objective(list(trainable), *rest),
        in_dims=(0, None, None, None, None, None),
        randomness="error",
    )

    def losses(trainable, non_trainable, x, y, sample_weight, weights):
        with torch.no_grad():
            return batched(tuple(trainable), non_trainable, x, y, sample_weight, weights)

    return losses


def ggn_function(forward: Callable, output_loss: Callable) -> Callable:
    """``(trainable, non_trainable, x, y, sw, weights, v) -> Jᵀ H_ℓ J v``, eager.

    One forward pass on dual tensors (``torch.autograd.forward_ad``) gives the
    outputs and their JVP ``Jv`` while autograd records the graph for the VJP
    ``Jᵀu``; ``H_ℓ (Jv)`` is a double backward in output space on a detached
    copy of the outputs. A model with several outputs (a list or dict) is
    handled leaf by leaf: ``J`` stacks the outputs' Jacobians, ``H_ℓ`` is the
    Hessian of the summed, weighted loss over all of them.
    """
    import torch.autograd.forward_ad as forward_ad

    def ggn(trainable, non_trainable, x, y, sample_weight, weights, vectors):
        params = _leaves(trainable)
        with forward_ad.dual_level():
            duals = [forward_ad.make_dual(p, v) for p, v in zip(params, vectors, strict=True)]
            structure = forward(duals, non_trainable, x)
            unpacked = [forward_ad.unpack_dual(leaf) for leaf in keras.tree.flatten(structure)]
        predictions = [leaf.primal for leaf in unpacked]
        tangents = [leaf.tangent for leaf in unpacked]
        if all(t is None for t in tangents) or not any(p.requires_grad for p in predictions):
            return [torch.zeros_like(p) for p in params]  # the outputs do not depend on the weights
        tangents = [
            torch.zeros_like(p) if t is None else t.detach()
            for p, t in zip(predictions, tangents, strict=True)
        ]
        outputs = [p.detach().requires_grad_(True) for p in predictions]
        loss = output_loss(
            keras.tree.pack_sequence_as(structure, outputs), y, sample_weight, weights
        )
        grads = torch.autograd.grad(loss, outputs, create_graph=True, allow_unused=True)
        differentiable = [(g, t) for g, t in zip(grads, tangents, strict=True) if g is not None]
        if any(g.requires_grad for g, _ in differentiable):
            hjv = torch.autograd.grad(
                [g for g, _ in differentiable if g.requires_grad],
                outputs,
                grad_outputs=[t for g, t in differentiable if g.requires_grad],
                allow_unused=True,
            )
        else:  # the loss is linear in the outputs: H_ℓ = 0
            hjv = (None,) * len(outputs)
        hjv = [torch.zeros_like(o) if h is None else h for h, o in zip(hjv, outputs, strict=True)]
        pairs = [(p, h) for p, h in zip(predictions, hjv, strict=True) if p.requires_grad]
        vjp = torch.autograd.grad(
            [p for p, _ in pairs], params, grad_outputs=[h for _, h in pairs], allow_unused=True
        )
        return _zeros_for_unused(vjp, params)

    return ggn


def process_count() -> int:
    """Processes of the default ``torch.distributed`` group; 1 when it is not initialised.

    ``torchrun --nproc_per_node=2 script.py`` plus
    ``torch.distributed.init_process_group("gloo")`` in the script makes it 2; a
    probe then treats each process's data as its shard of one data set.
    """
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return 1
    return int(torch.distributed.get_world_size())


def process_sum(array: np.ndarray) -> np.ndarray:
    """``Σ_ranks array``, float64, the same on every rank (``torch.distributed.all_reduce``, SUM).

    Every rank must call it in the same order with an array of the same shape
    (a collective). NCCL reduces only CUDA tensors, so there the sum travels
    through the current CUDA device; gloo reduces on the CPU.
    """
    tensor = torch.from_numpy(np.array(array, dtype=np.float64, copy=True).reshape(-1))
    if torch.distributed.get_backend() == "nccl":
        tensor = tensor.to(torch.device("cuda", torch.cuda.current_device()))
    torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.SUM)
    return tensor.cpu().numpy().reshape(np.shape(array))


def manual_seed(seed: int) -> None:
    """``torch.manual_seed(seed)``: what ``keras.utils.set_random_seed`` seeds on torch."""
    torch.manual_seed(seed)


@contextlib.contextmanager
def short_lived_graphs() -> Iterator[None]:
    """Run torch on one intra-op thread inside the block (the tour's small models).

    torch runs eagerly, so there is no graph optimiser to switch off; what costs
    the tour's many small trainings is torch splitting each small operation over
    its intra-op threads: the digits MLP's matrix products take microseconds,
    less than the threads take to meet, and on a busy machine a waiting thread
    spins on a core another process needs (the tour's time with one thread and
    with torch's default is in ``benchmarks/README.md``). Like any change of
    thread count it may change the last bits of a float32 sum, never a
    verdict, which is decided with a margin over the seed spread. The previous
    thread count comes back on exit, also when the block raises.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
