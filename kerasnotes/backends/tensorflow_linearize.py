"""TensorFlow's missing ``jax.linearize``: split a traced HVP graph at its dependence on v.

```
Hv = T(r, v),   r = P(θ, data)
```

A probe asks for many products ``Hv`` at one fixed ``(θ, data)``. In the traced
reverse-over-reverse graph, every op either depends on the vector ``v`` or
does not. Those that do not (the forward pass, the first backward pass, the
ReLU masks, the softmax) give the same values for every ``v``: they are the
primal part ``P``. Its results that the ``v``-dependent ops read are the
residuals ``r``. The tangent part ``T`` is the ``v``-dependent ops alone, the
second-order computation. ``prepare`` evaluates ``P`` once; each product then
runs ``T`` only. On the MLP 64-256-256-10 the tangent graph keeps 14 of the
HVP's 22 matrix products.

The split is made once per input signature: one trace of the product, a
walk over its ops, and two GraphDefs (the primal nodes; the tangent nodes
with each residual read from a placeholder), each imported into a
``tf.function``. The first product then costs more than the unsplit one
(two graphs to trace and optimise instead of one) and every later one less
(the primal part is not re-run), so the split pays after the first few
dozen products at most; a Lanczos run takes 50 to 100. Measured times are in
``benchmarks/README.md`` (``benchmarks/bench_hvp.py``).
``tf.compat.v1.wrap_function(...).prune`` would do the same cut, but copies
the graph op by op in Python and its functions run without the graph
optimiser (slower than the unsplit HVP).

A graph this cannot split safely falls back to the unsplit compiled HVP
(``SplitHvp.linearized`` is then False): extra inputs captured from outside
the function (a variable read by the loss), a control dependency crossing
the cut, or a stateful op (a random number) the tangent part would re-run.
Each split also checks itself once, on its first ``prepare``: the split and
the unsplit product of one random vector must agree to ``CHECK_RTOL``
(relative, in float64), and the split must not raise; otherwise that
signature falls back too, with one ``RuntimeWarning`` line naming why.

The halves are GraphDefs cut out of one graph, so whatever in a NodeDef names
another node must survive the cut: inputs cut away become placeholders, and
colocation constraints (``_class = ["loc:@node"]``, which a gather's gradient
puts on the shape of its parameters) on nodes the half lacks are dropped.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import tensorflow as tf


def _descendants(operations: list, seeds: set) -> set:
    """``seeds`` and every op of ``operations`` that reads one of them, directly or not."""
    reached = set(seeds)
    changed = True
    while changed:  # creation order is topological except for late control edges
        changed = False
        for op in operations:
            if op not in reached and any(p in reached for p in _parents(op)):
                reached.add(op)
                changed = True
    return reached


def _parents(op: tf.Operation) -> list:
    return [t.op for t in op.inputs] + list(op.control_inputs)


def _ancestors(tensors: Iterable[tf.Tensor]) -> set:
    seen, stack = set(), [t.op for t in tensors]
    while stack:
        op = stack.pop()
        if op not in seen:
            seen.add(op)
            stack.extend(_parents(op))
    return seen


class _CannotSplit(Exception):
    """The graph has a feature the split does not handle; the unsplit HVP is used."""


def _is_stateful(op: tf.Operation) -> bool:
    return bool(op.op_def.is_stateful) if op.op_def is not None else False


@contextlib.contextmanager
def _optimised() -> Iterator[None]:
    """Inside the block, Grappler (TensorFlow's graph optimiser) is on.

    The tour switches Grappler off for its short-lived training graphs
    (``backends.tensorflow.short_lived_graphs``). A probe's products are not
    short-lived: it runs the same product dozens of times, so the optimiser
    pays. Without its constant folding a product also keeps int32 shape
    arithmetic (the ``Transpose`` of a BatchNormalization gradient's axes),
    which reaches a oneDNN kernel that, on CPUs without AVX-512, logs an
    "oneDNN supports DT_INT32 only ..." error line before falling back.
    TensorFlow instantiates a function once per optimiser setting, so every
    product (split or not) runs inside this block: two dictionary updates a
    call, next to a product's milliseconds. With Grappler on, nothing changes.
    """
    key = "disable_meta_optimizer"
    previous = tf.config.optimizer.get_experimental_options().get(key, False)
    if not previous:
        yield
        return
    tf.config.optimizer.set_experimental_options({key: False})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({key: previous})


#: The split's first product may differ from the unsplit one by this much, ‖s − u‖ ≤ tol·‖u‖.
CHECK_RTOL = 1e-5


class SplitHvp:
    """``prepare(*args) -> apply(vectors) -> Hv``, with the primal part evaluated once.

    Self-checking: the first ``prepare`` runs the split product and the
    unsplit one on the same random vector ``r`` (fixed seed) and keeps the
    split only if, compared in float64,

    ```
    ‖H_split r − H r‖₂ ≤ CHECK_RTOL · ‖H r‖₂
    ```

    (non-finite entries must be the same in both). If the split cannot be
    made, raises while running, or differs, this signature uses the unsplit
    compiled product from then on, and one ``RuntimeWarning`` line says why:
    a split is an optimisation and must never fail, or be wrong, where the
    unsplit product works.

    Args:
        hvp: the compiled (``tf.function``) ``(*args, vectors) -> Hv`` (lists of
            tensors); traced once here, and run as it is if the split fails.
        args: example ``(trainable, non_trainable, x, y, sample_weight, weights)``
            fixing the signature; ``None`` entries stay ``None``.
        vectors: example ``v``, one tensor per trainable tensor.

    ``linearized`` says whether the split is used; if not, ``reason`` says
    why and ``apply`` runs the unsplit compiled product.
    """

    def __init__(self, hvp: Callable, args: tuple, vectors: list) -> None:
        self.linearized, self.reason, self._checked = False, "", False
        self._unsplit = hvp
        try:
            self._primal, self._tangent = _split(hvp, args, vectors)
            self.linearized = True
        except Exception as error:  # an optimisation only: the unsplit product is exact
            self._fall_back(f"could not be made ({_one_line(error)})")

    def _fall_back(self, reason: str) -> None:
        self.linearized, self.reason = False, reason
        warnings.warn(
            f"kerasnotes: the TensorFlow HVP split {reason}; using the unsplit "
            "Hessian-vector product for this input signature (slower, same numbers)",
            RuntimeWarning,
            stacklevel=4,
        )

    def prepare(self, args: tuple) -> Callable[[list], list]:
        """Run the primal part at ``args``; the returned ``apply(v)`` runs the tangent part."""
        if self.linearized and not self._checked:
            self._checked = True  # once per split, whatever the outcome
            try:
                apply = self._prepare_split(args)
                mismatch = _compare(apply, self._unsplit_at(args), args[0])
            except Exception as error:
                self._fall_back(f"raised while running ({_one_line(error)})")
            else:
                if mismatch is None:
                    return apply
                self._fall_back(f"differs from the unsplit product ({mismatch})")
        if not self.linearized:
            return self._unsplit_at(args)
        return self._prepare_split(args)

    def _unsplit_at(self, args: tuple) -> Callable[[list], list]:
        def apply(vectors: list) -> list:
            with _optimised():
                return self._unsplit(*args, vectors)

        return apply

    def _prepare_split(self, args: tuple) -> Callable[[list], list]:
        with _optimised():
            residuals = self._primal(*[t for t in tf.nest.flatten(args) if t is not None])

        def apply(vectors: list) -> list:
            with _optimised():
                return self._tangent(*residuals, *vectors)

        apply.state_bytes = sum(  # type: ignore[attr-defined]
            int(r.shape.num_elements() or 0) * r.dtype.size for r in residuals
        )
        return apply


def _one_line(error: BaseException) -> str:
    """``Type: first line of the message``, at most 200 characters."""
    text = str(error).strip().splitlines()
    line = f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")
    return line if len(line) <= 200 else line[:197] + "..."


def _compare(split: Callable, unsplit: Callable, trainable: list) -> str | None:
    """``None`` if both products agree on one random vector, else what differs."""
    rng = np.random.default_rng(0)
    vectors = [
        tf.constant(rng.standard_normal(t.shape).astype(t.dtype.as_numpy_dtype)) for t in trainable
    ]

    def flat(tensors: list) -> np.ndarray:
        return np.concatenate([np.asarray(t, np.float64).ravel() for t in tensors])

    got, want = flat(split(vectors)), flat(unsplit(vectors))
    if got.shape != want.shape:
        return f"{got.size} numbers instead of {want.size}"
    finite = np.isfinite(want)
    if not np.array_equal(finite, np.isfinite(got)) or not np.array_equal(
        got[~finite], want[~finite], equal_nan=True
    ):
        return "NaN or Inf in other places"
    error = float(np.linalg.norm(got[finite] - want[finite]))
    scale = float(np.linalg.norm(want[finite]))
    if error > CHECK_RTOL * scale or (scale == 0.0 and error > 0.0):
        relative = error / scale if scale > 0 else float("inf")
        return f"relative error {relative:.2e} > {CHECK_RTOL:.0e}"
    return None


def _split(compiled: Callable, args: tuple, vectors: list) -> tuple[Callable, Callable]:
    """Trace ``compiled`` once and build its primal and tangent functions from the graph."""
    graph = compiled.get_concrete_function(*args, list(vectors)).graph
    num_args = len([t for t in tf.nest.flatten(args) if t is not None])
    inputs = list(graph.inputs)
    if len(inputs) != num_args + len(vectors):
        raise _CannotSplit("the function captures tensors from outside")
    arg_inputs, vector_inputs = inputs[:num_args], inputs[num_args:]
    outputs = list(graph.outputs)
    operations = graph.get_operations()

    on_v = _descendants(operations, {t.op for t in vector_inputs})
    on_data = _descendants(operations, {t.op for t in arg_inputs})
    needed = _ancestors(outputs)
    residuals: dict[str, tf.Tensor] = {}
    for op in operations:
        if op not in needed or op not in on_v:
            continue
        for control in op.control_inputs:
            if control not in on_v and control in on_data:
                raise _CannotSplit(f"a control dependency crosses the cut at {op.name}")
        for tensor in op.inputs:
            if tensor.op in on_v:
                continue
            if tensor.op in on_data:
                residuals.setdefault(tensor.name, tensor)
            elif any(_is_stateful(a) for a in _ancestors([tensor])):
                raise _CannotSplit(f"the tangent part would re-run a stateful op ({op.name})")
    for tensor in outputs:  # a product that does not involve v (a weight the loss is linear in)
        if tensor.op not in on_v and tensor.op in on_data:
            residuals.setdefault(tensor.name, tensor)

    graph_def = graph.as_graph_def()
    names = list(residuals)
    cut = {name: f"{_RESIDUAL_PREFIX}{k}" for k, name in enumerate(names)}
    if any(node.name.startswith(_RESIDUAL_PREFIX) for node in graph_def.node):
        raise _CannotSplit(f"a node name starts with {_RESIDUAL_PREFIX!r}")
    primal_def = _subgraph(graph_def, names, {})
    tangent_def = _subgraph(graph_def, [t.name for t in outputs], cut, residuals)
    arg_names = [t.name for t in arg_inputs]
    vector_names = [t.name for t in vector_inputs]
    placeholder_names = [f"{cut[name]}:0" for name in names]
    # The tangent half returns each output independent of v from its placeholder.
    output_names = [f"{cut[t.name]}:0" if t.name in cut else t.name for t in outputs]

    primal = _ImportedGraph(primal_def, arg_names, names, "primal")
    tangent = _ImportedGraph(tangent_def, placeholder_names + vector_names, output_names, "tangent")
    # Importing a GraphDef is one C++ call; tf.function then gives each half
    # the graph optimiser and the thread pools of any compiled function.
    return tf.function(primal, autograph=False), tf.function(tangent, autograph=False)


class _ImportedGraph:
    """``(*feeds) -> fetches`` by importing ``graph_def`` with the feeds mapped onto its inputs.

    A callable object rather than a closure: ``tf.function`` counts retracing
    per code object, and one closure traced once per probe would set off its
    "excessive retracing" warning after a few probes although each function
    is traced only once.
    """

    def __init__(self, graph_def: Any, feed_names: list, fetch_names: list, scope: str) -> None:
        present = {node.name for node in graph_def.node}
        # Feed only the inputs this half reads: import_graph_def rejects the others.
        self._feeds = [
            (k, name) for k, name in enumerate(feed_names) if _split_input(name)[0] in present
        ]
        self._graph_def, self._fetch_names, self._scope = graph_def, fetch_names, scope

    def __call__(self, *feeds: tf.Tensor) -> list:
        input_map = {name: feeds[k] for k, name in self._feeds}
        # Under a name scope the imported nodes cannot clash with the function's own.
        return tf.graph_util.import_graph_def(
            self._graph_def,
            input_map=input_map,
            return_elements=self._fetch_names,
            name=self._scope,
        )


#: Names of the placeholders that stand for the residuals in the tangent graph.
_RESIDUAL_PREFIX = "kerasnotes_residual_"


def _split_input(name: str) -> tuple[str, str | None]:
    """A NodeDef input ``"op"``, ``"op:1"`` or ``"^op"`` as (op name, tensor name or None)."""
    if name.startswith("^"):
        return name[1:], None
    op, _, index = name.partition(":")
    return op, f"{op}:{index or 0}"


def _subgraph(graph_def: Any, fetches: list, cut: dict, tensors: dict | None = None) -> Any:
    """The nodes ``fetches`` need, with each tensor in ``cut`` read from a new placeholder."""
    from tensorflow.core.framework import graph_pb2

    nodes = {node.name: node for node in graph_def.node}
    # A fetch that is itself cut (an output independent of v) is read from its
    # placeholder: its own op, and what that op reads, stay out.
    keep, stack = set(), [op for op, tensor in map(_split_input, fetches) if tensor not in cut]
    while stack:
        name = stack.pop()
        if name in keep:
            continue
        keep.add(name)
        for source in nodes[name].input:
            op, tensor = _split_input(source)
            if tensor not in cut:
                stack.append(op)
    out = graph_pb2.GraphDef()
    out.versions.CopyFrom(graph_def.versions)
    out.library.CopyFrom(graph_def.library)
    for node in graph_def.node:  # original order: still topological
        if node.name in keep:
            copy = out.node.add()
            copy.CopyFrom(node)
            for i, source in enumerate(copy.input):
                tensor = _split_input(source)[1]
                if tensor in cut:
                    copy.input[i] = cut[tensor]
            _drop_colocation_outside(copy, keep)
    for tensor_name, placeholder in cut.items():
        tensor = tensors[tensor_name]
        node = out.node.add()
        node.name, node.op = placeholder, "Placeholder"
        node.attr["dtype"].type = tensor.dtype.as_datatype_enum
        node.attr["shape"].shape.CopyFrom(tensor.shape.as_proto())
    return out


def _drop_colocation_outside(node: Any, keep: set) -> None:
    """Remove ``node``'s colocation constraints on nodes this subgraph does not contain.

    The gradient of a gather (``Embedding``, ``ops.take``) reads the shape of
    the gathered parameters under ``_class = ["loc:@trainable"]``: "place me
    beside that input". The tangent half reads it from a residual
    placeholder and has no node ``trainable``, and ``import_graph_def``
    rejects a constraint on an unknown node. Colocation only places ops on
    devices; a function on one device computes the same without it.
    """
    if "_class" not in node.attr:
        return
    values = node.attr["_class"].list.s
    kept = [c for c in values if not c.startswith(b"loc:@") or c[len(b"loc:@") :].decode() in keep]
    if len(kept) == len(values):
        return
    if kept:
        del values[:]
        values.extend(kept)
    else:
        del node.attr["_class"]


def _signature_key(args: tuple) -> tuple:
    """Nesting, shapes and dtypes of ``args``: what a traced graph is specific to."""
    leaves = tuple(
        None if t is None else (tuple(t.shape), t.dtype.name) for t in tf.nest.flatten(args)
    )
    return repr(tf.nest.map_structure(lambda _: 0, args)), leaves


def linearized(hvp: Callable) -> Callable[..., Callable[[list], list]]:
    """``prepare(trainable, non_trainable, x, y, sw, weights) -> apply(v)``, one split per signature.

    Args:
        hvp: the compiled (``tf.function``) reverse-over-reverse product.
    """
    splits: dict[Any, SplitHvp] = {}

    def prepare(trainable, non_trainable, x, y, sample_weight, weights):
        args = (trainable, non_trainable, x, y, sample_weight, weights)
        key = _signature_key(args)
        if key not in splits:
            vectors = [tf.zeros_like(t) for t in trainable]
            splits[key] = SplitHvp(hvp, args, vectors)
        return splits[key].prepare(args)

    return prepare
