"""Data sources of a probe: what ``model.evaluate`` takes, read as numpy micro-batches.

```
x, y arrays (y given)           -> micro-batches of batch_size rows, on the device once (engine.py)
y=None and x a tf.data.Dataset, keras.utils.PyDataset, torch DataLoader or finite iterable
                                -> its batches (x_b, y_b[, s_b]), read one at a time on every pass
pass 1:     checksum c_b of every batch; the last batches that fit in cache_bytes kept on the host
pass k > 1: the first B − C batches read again (and checked: c_b' = c_b), the C cached ones reused
```

A source is read in order, so the cache keeps the *last* batches that fit:
each later pass reads the source's first ``B − C`` batches, stops there and
takes the rest from memory. A source that gives a different batch when read
again (``DataLoader(shuffle=True)``, ``Dataset.shuffle`` with
``reshuffle_each_iteration=True``, random augmentation) would change the
Hessian between products, so its first batch is read a second time when the
probe is built and a difference is a ValueError; every batch read again later is
checked as well. A one-shot iterator (a generator) cannot be read twice: all
its batches must fit in the cache.

Conversion needs no framework import: tensors become numpy through
``.detach().cpu().numpy()`` (torch), ``as_numpy_iterator()`` (tf.data) or
``__array__`` (TensorFlow, JAX).

Example:
    >>> import numpy as np
    >>> batches = [(np.ones((2, 1)), np.zeros((2, 1))), (np.ones((1, 1)), np.zeros((1, 1)))]
    >>> stream = Stream(batches, cache_bytes=0)
    >>> [x.shape[0] for x, y, sw in stream], len(stream), stream.cached
    ([2, 1], 2, 0)
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import keras
import numpy as np

from kerasnotes import _validation
from kerasnotes.curvature.placement import batch_on_device

#: The default cache is this fraction of the machine's memory ...
CACHE_FRACTION = 1 / 8
#: ... and at most this many bytes (4 GiB).
CACHE_LIMIT = 4 * 2**30
#: ``verbose`` values, as ``model.evaluate`` takes them.
VERBOSE = ("auto", 0, 1, 2)


def default_cache_bytes() -> int:
    """The default ``cache_bytes``: 1/8 of the machine's memory, at most 4 GiB.

    Example:
        >>> 0 < default_cache_bytes() <= CACHE_LIMIT
        True
    """
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):  # not POSIX: assume a small machine
        memory = 8 * 2**30
    return int(min(memory * CACHE_FRACTION, CACHE_LIMIT))


def check_cache_bytes(cache_bytes: Any) -> int:
    """``cache_bytes`` checked: None (the default) or an integer >= 0 (0: no cache)."""
    if cache_bytes is None:
        return default_cache_bytes()
    return _validation.integer("cache_bytes", cache_bytes, minimum=0)


def check_steps(steps: Any) -> int | None:
    """``steps`` checked: None (all batches) or an integer >= 1."""
    return None if steps is None else _validation.integer("steps", steps, minimum=1)


def check_verbose(verbose: Any, streamed: bool) -> int:
    """``verbose`` as ``evaluate`` takes it; "auto" is 1 for a streamed source, 0 for arrays.

    In-memory arrays make short passes, and a probe's docstring examples stay quiet.
    """
    if isinstance(verbose, str) and verbose == "auto":
        return 1 if streamed else 0
    if _validation.is_integer(verbose) and int(verbose) in (0, 1, 2):
        return int(verbose)
    raise ValueError(_validation.message("verbose", verbose, f"one of {VERBOSE}"))


class shown:  # noqa: N801 - used like a function, in error messages
    """A stand-in whose ``repr`` names a value's type (a data source's repr can be its data).

    Example:
        >>> shown([1, 2])
        <list>
    """

    def __init__(self, value: Any) -> None:
        self.name = type(value).__name__

    def __repr__(self) -> str:
        return f"<{self.name}>"


def _is_dataset(data: Any) -> bool:
    # tf.data.Dataset, duck-typed: no TensorFlow import outside kerasnotes/backends.
    return hasattr(data, "as_numpy_iterator") and hasattr(data, "element_spec")


def _is_batch(item: Any) -> bool:
    return isinstance(item, (tuple, list)) and len(item) in (2, 3)


def is_source(data: Any) -> bool:
    """Whether ``data`` is a source of batches rather than arrays (see the module's docstring).

    A list or tuple counts as a source when every element is a batch
    ``(x, y)`` or ``(x, y, sample_weight)``; arrays, dicts and other lists are
    array data.

    Example:
        >>> import numpy as np
        >>> is_source(np.ones(3)), is_source([np.ones(3)]), is_source([(np.ones(1), np.ones(1))])
        (False, False, True)
        >>> is_source(iter([])), is_source({"a": np.ones(3)})
        (True, False)
    """
    if _is_dataset(data) or isinstance(data, keras.utils.PyDataset):
        return True
    if isinstance(data, (tuple, list)):
        return len(data) > 0 and all(_is_batch(item) for item in data)
    if isinstance(data, (str, bytes, dict, np.ndarray)) or hasattr(data, "__array__"):
        return False
    return isinstance(data, Iterable)


def _kind(data: Any) -> str:
    if _is_dataset(data):
        return "tf.data.Dataset"
    if isinstance(data, keras.utils.PyDataset):
        return "PyDataset"
    if isinstance(data, collections.abc.Iterator):
        return "iterator"
    return "iterable"


def to_numpy(leaf: Any) -> Any:
    """One tensor or array as numpy: torch through ``.detach().cpu()``, others via ``__array__``.

    Example:
        >>> to_numpy([1.0, 2.0])
        array([1., 2.])
    """
    if leaf is None or isinstance(leaf, np.ndarray):
        return leaf
    if hasattr(leaf, "detach") and hasattr(leaf, "cpu"):  # a torch tensor, maybe on a GPU
        return leaf.detach().cpu().numpy()
    return np.asarray(leaf)


def _digest(entry: Any) -> bytes:
    """A checksum of one batch: its leaves' shapes, dtypes and bytes."""
    digest = hashlib.blake2b(digest_size=16)
    for leaf in keras.tree.flatten(entry):
        if leaf is None:
            digest.update(b"None")
            continue
        array = np.ascontiguousarray(leaf)
        digest.update(f"{array.shape}{array.dtype.str}".encode())
        if array.dtype == object:
            digest.update(repr(array.tolist()).encode())
        else:
            digest.update(array.data)
    return digest.digest()


def _nbytes(entry: Any) -> int:
    return sum(
        int(np.asarray(leaf).nbytes) for leaf in keras.tree.flatten(entry) if leaf is not None
    )


class Stream:
    """A data source read again on every pass, as checked numpy batches ``(x, y, sample_weight)``.

    The first iteration reads the source to its end (or ``steps`` batches),
    checksums each batch and keeps the last ones that fit in ``cache_bytes``;
    every later iteration reads the source's first ``len(self) − self.cached``
    batches again, checks each against its checksum, and takes the rest from
    the cache. ``convert(raw)`` turns a raw ``(x, y, sample_weight)`` of numpy
    trees into the entry yielded (the probe's checks and dtypes); it runs on
    every read.

    Args:
        data: a ``tf.data.Dataset``, ``keras.utils.PyDataset``, torch ``DataLoader``
            or finite iterable of ``(x, y)`` / ``(x, y, sample_weight)`` batches.
        steps: read at most this many batches per pass (None: all).
        cache_bytes: host memory for cached batches (None: ``default_cache_bytes()``).
        convert: ``raw -> entry``, applied to every batch read.
    """

    def __init__(
        self,
        data: Any,
        *,
        steps: int | None = None,
        cache_bytes: int | None = None,
        convert: Callable[[tuple], Any] | None = None,
    ) -> None:
        if not is_source(data):
            raise TypeError(
                _validation.message(
                    "x",
                    shown(data),
                    "a tf.data.Dataset, a keras.utils.PyDataset, a torch DataLoader or a finite "
                    "iterable of (x, y) or (x, y, sample_weight) batches when y is None",
                )
            )
        self.data = data
        self.kind = _kind(data)
        self.steps = check_steps(steps)
        self.cache_bytes = check_cache_bytes(cache_bytes)
        self._convert = convert or (lambda raw: raw)
        self._one_shot = self.kind == "iterator"
        self._digests: list[bytes] | None = None
        self._cache: collections.deque = collections.deque()
        if self._one_shot:
            return
        if self.kind == "tf.data.Dataset" and self.steps is None:
            cardinality = int(np.asarray(data.cardinality()))
            if cardinality == -1:  # tf.data.INFINITE_CARDINALITY
                raise ValueError(
                    _validation.message(
                        "steps", steps, "an integer >= 1 for a tf.data.Dataset that repeats forever"
                    )
                )
        if self.kind == "PyDataset" and self.steps is None and data.num_batches is None:
            raise ValueError(
                _validation.message(
                    "steps", steps, "an integer >= 1 for a PyDataset without a length"
                )
            )

    # ------------------------------------------------------------------ reading
    def _raw(self) -> Iterator[tuple]:
        """One pass over the source: ``(x, y, sample_weight)`` of numpy trees (steps at most)."""
        if self.kind == "PyDataset":
            count = self.data.num_batches
            count = self.steps if count is None else min(count, self.steps or count)
            items: Iterable = (self.data[index] for index in range(count))
        elif self.kind == "tf.data.Dataset":
            items = self.data.as_numpy_iterator()
        else:
            items = self.data
        # islice stops after `steps` batches without reading one more (an iterator would lose it).
        for item in itertools.islice(items, self.steps):
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(item)
            yield keras.tree.map_structure(to_numpy, (x, y, sample_weight))

    def _read(self) -> Iterator[Any]:
        for raw in self._raw():
            yield self._convert(raw)

    def __len__(self) -> int:
        """The number of batches of a pass (known once the first pass ended)."""
        if self._digests is None:
            raise RuntimeError("the length of a Stream is known after its first pass")
        return len(self._digests)

    @property
    def cached(self) -> int:
        """How many batches (the last ones) are kept on the host."""
        return len(self._cache)

    def __iter__(self) -> Iterator[Any]:
        if self._digests is None:
            return self._first_pass()
        return self._later_pass()

    def _first_pass(self) -> Iterator[Any]:
        digests, cache, size = [], collections.deque(), 0
        for entry in self._read():
            digests.append(_digest(entry))
            cache.append(entry)
            size += _nbytes(entry)
            while size > self.cache_bytes and cache:
                if self._one_shot:
                    raise ValueError(
                        _validation.message(
                            "x",
                            shown(self.data),
                            "a re-readable source (a list, PyDataset, tf.data.Dataset or "
                            "DataLoader): an iterator is read once, so all of its batches must "
                            f"fit in cache_bytes={self.cache_bytes}, and its first "
                            f"{len(digests)} take {size} bytes",
                        )
                    )
                size -= _nbytes(cache.popleft())
            yield entry
        if not digests:
            raise ValueError(
                _validation.message("x", shown(self.data), "a data source with at least one batch")
            )
        self._digests, self._cache = digests, cache
        if not self._one_shot:
            # A reshuffling source is found now, not in the middle of a solver.
            reader = self._read()
            try:
                self._check(0, next(reader))
            except StopIteration:
                self._check(0, None)
            finally:
                reader.close()

    def _check(self, index: int, entry: Any) -> None:
        if entry is None or _digest(entry) != self._digests[index]:
            raise ValueError(
                _validation.message(
                    "x",
                    shown(self.data),
                    "a data source that gives the same batches on every pass (the Hessian is "
                    f"of fixed data); batch {index} differs from the first pass: turn off "
                    "shuffling (DataLoader(shuffle=False), Dataset.shuffle(..., "
                    "reshuffle_each_iteration=False)) and random augmentation",
                )
            )

    def _later_pass(self) -> Iterator[Any]:
        uncached = len(self._digests) - len(self._cache)
        if uncached:
            reader = self._read()
            read = 0
            try:
                # islice stops at the first cached batch without reading it.
                for entry in itertools.islice(reader, uncached):
                    self._check(read, entry)
                    read += 1
                    yield entry
            finally:
                reader.close()
            if read < uncached:
                raise ValueError(
                    _validation.message(
                        "x",
                        shown(self.data),
                        f"a data source that gives the same batches on every pass; it gave "
                        f"{read} batches where the first pass read {len(self._digests)}",
                    )
                )
        yield from self._cache


class SolverProgress:
    """One ``keras.utils.Progbar`` over a whole solver: its products times the batches.

    The bar counts batches (so the time left moves within a long product) and
    names the products done; a solver that stops early (Lanczos converged)
    ends the bar where it stopped.
    """

    def __init__(self, label: str, products: int | None, batches: int, verbose: int) -> None:
        self.label, self.batches, self.done = label, batches, 0
        target = None if products is None else products * batches
        self.bar = keras.utils.Progbar(target, verbose=verbose, unit_name=self._unit())

    def _unit(self) -> str:
        products = self.done // self.batches
        return f"batch, {self.label}: {products} product{'' if products == 1 else 's'}"

    def step(self, batches: int = 1) -> None:
        self.done += batches
        if self.bar.target is not None and self.done > self.bar.target:
            self.bar.target = None  # past the budget (a last block step): count on, no ETA
        self.bar.unit_name = self._unit()
        self.bar.update(self.done, finalize=False)  # close() draws the last line

    def close(self) -> None:
        self.bar.target = self.done
        self.bar.unit_name = self._unit()
        self.bar.update(self.done, finalize=True)


class Batches:
    """Micro-batches on the device, ``(x, y, sample_weight, weights)``, with passes shown.

    ``passing(label)`` is one pass; with ``verbose`` it shows a
    ``keras.utils.Progbar`` over the batches (the pass named by ``label``, e.g.
    "hvp 12", the estimated time left). Inside ``solving(label, products)`` the
    passes show no bar of their own: one bar counts the solver's batches
    against its budget of products, with the time left. Plain iteration is a
    silent pass.
    """

    verbose = 0
    solver: SolverProgress | None = None

    def passing(self, label: str | None = None) -> Iterator[tuple]:
        if self.solver is not None:
            for batch in self:
                yield batch
                self.solver.step()
            return
        if not self.verbose or label is None:
            yield from self
            return
        bar = keras.utils.Progbar(len(self), verbose=self.verbose, unit_name=f"batch, {label}")
        for done, batch in enumerate(self, start=1):
            yield batch
            bar.update(done)

    @contextlib.contextmanager
    def solving(self, label: str, products: int | None) -> Iterator[None]:
        """One bar for the solver inside the block (none when silent or already inside one)."""
        if not self.verbose or self.solver is not None:
            yield
            return
        self.solver = SolverProgress(label, products, len(self), self.verbose)
        try:
            yield
        finally:
            solver, self.solver = self.solver, None
            solver.close()


class ArrayBatches(list, Batches):
    """Array data's micro-batches: a list of device tensors, put on the device once."""

    def __init__(self, batches: list, verbose: int = 0) -> None:
        super().__init__(batches)
        self.verbose = verbose


class StreamBatches(Batches):
    """A ``Stream``'s batches put on the device one at a time, each with its weights.

    ``to_device(batch, weights) -> (x, y, sample_weight, weights)`` on the
    device, given a numpy batch and its entry of ``weights`` (the default puts
    the whole batch on one device; a data-parallel probe passes one that cuts
    it into shards, its entry then being one weight per shard).
    """

    def __init__(
        self,
        stream: Stream,
        weights: list,
        verbose: int = 0,
        to_device: Callable[[tuple, Any], tuple] | None = None,
    ) -> None:
        self.stream = stream
        self.weights = weights
        self.verbose = verbose
        self.to_device = to_device or _whole_on_device

    def __len__(self) -> int:
        return len(self.weights)

    def __iter__(self) -> Iterator[tuple]:
        for batch, weights in zip(self.stream, self.weights, strict=True):
            yield self.to_device(batch, weights)

    def __getitem__(self, index: int) -> tuple:
        if index != 0:
            raise IndexError("streamed batches are read in order; only [0] is offered")
        return next(iter(self))


def _whole_on_device(batch: tuple, weights: Any) -> tuple:
    """A numpy batch ``(x, y, sample_weight)`` on the device as it is, with its weights."""
    return (*batch_on_device(*batch), weights)
