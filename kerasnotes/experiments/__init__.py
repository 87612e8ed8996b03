"""The notes' claims as experiments: one module per claim, and the registry the tour runs.

Every claim module has ``CLAIM`` (its id), ``TITLE``, ``SIZES`` (per mode in
:data:`~kerasnotes.experiments.base.MODES`) and ``run(mode, log_dir, seed,
progress) -> ClaimResult``, the ``run`` of its subclass of
:class:`~kerasnotes.experiments.claim.Claim`. To add a claim, write its module
and add one line to :data:`REGISTRY`.

```
REGISTRY: claim id -> module;  run(claim, mode, log_dir) -> ClaimResult
files:    <log_dir>/<claim>/<config>/  (TensorBoard runs),  <log_dir>/<claim>/<name>.png
```

Example:
    >>> from kerasnotes import experiments
    >>> experiments.parse_claims("c8, C3")
    ['C3', 'C8']
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from types import ModuleType

from kerasnotes import _validation
from kerasnotes.experiments.base import MODES, ClaimResult

__all__ = ["CLAIM_IDS", "MODES", "REGISTRY", "ClaimResult", "load", "parse_claims", "run"]

#: Every claim of the notes, C0 ... C13.
CLAIM_IDS = tuple(f"C{k}" for k in range(14))

#: Claim id -> the module that reproduces it (claims without an experiment yet are absent).
REGISTRY: dict[str, str] = {
    "C0": "kerasnotes.experiments.c0_features",
    "C1": "kerasnotes.experiments.c1_saddles",
    "C2": "kerasnotes.experiments.c2_escape",
    "C3": "kerasnotes.experiments.c3_batch_size",
    "C4": "kerasnotes.experiments.c4_momentum",
    "C5": "kerasnotes.experiments.c5_adaptive_lr",
    "C6": "kerasnotes.experiments.c6_lr_decay",
    "C7": "kerasnotes.experiments.c7_early_stopping",
    "C8": "kerasnotes.experiments.c8_cross_entropy",
    "C9": "kerasnotes.experiments.c9_batch_norm",
    "C10": "kerasnotes.experiments.c10_small_batch_norm",
    "C11": "kerasnotes.experiments.c11_edge_of_stability",
    "C12": "kerasnotes.experiments.c12_sparse_features",
    "C13": "kerasnotes.experiments.c13_batch_norm_sharpness",
}


def _order(claim: str) -> int:
    return int(claim[1:])


def registered() -> list[str]:
    """The claims that have an experiment, in the notes' order.

    Example:
        >>> registered()[0]
        'C0'
    """
    return sorted(REGISTRY, key=_order)


def parse_claims(text: str) -> list[str]:
    """Turn "C1,C5" into ``["C1", "C5"]``, checked against :data:`REGISTRY`.

    Case and spaces do not matter; the result is in the notes' order, without repeats.

    Args:
        text: claim ids separated by commas.

    Raises:
        ValueError: an id is not a claim of the notes, or has no experiment yet; the
            message names it and lists the claims that can run.

    Example:
        >>> parse_claims("C5,c0,C5")
        ['C0', 'C5']
    """
    if not isinstance(text, str):
        raise TypeError(_validation.message("claims", text, "a string like 'C1,C5'"))
    asked = [part.strip().upper() for part in text.split(",") if part.strip()]
    if not asked:
        raise ValueError(f"no claim ids in {text!r}; choose from {', '.join(registered())}")
    unknown = [claim for claim in asked if claim not in CLAIM_IDS]
    if unknown:
        raise ValueError(
            f"unknown claim id(s) {', '.join(unknown)} in {text!r}: the notes' claims are "
            f"{CLAIM_IDS[0]} ... {CLAIM_IDS[-1]}; the tour can run {', '.join(registered())}"
        )
    missing = [claim for claim in asked if claim not in REGISTRY]
    if missing:
        raise ValueError(
            f"claim(s) {', '.join(missing)} have no experiment yet; the tour can run "
            f"{', '.join(registered())}"
        )
    return sorted(set(asked), key=_order)


def load(claim: str) -> ModuleType:
    """Import the module of a registered claim.

    Args:
        claim: a key of :data:`REGISTRY`, e.g. "C8".
    """
    if claim not in REGISTRY:
        raise ValueError(_validation.message("claim", claim, f"one of {', '.join(registered())}"))
    return importlib.import_module(REGISTRY[claim])


def run(
    claim: str,
    mode: str = "default",
    log_dir: str | os.PathLike = "runs",
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    *,
    logdir: str | os.PathLike | None = None,
) -> ClaimResult:
    """Run one claim's experiment and return its result.

    Args:
        claim: a key of :data:`REGISTRY`.
        mode: one of :data:`MODES`.
        log_dir: where its runs and plot go (under ``<log_dir>/<claim>``), as the
            ``log_dir`` of ``keras.callbacks.TensorBoard``.
        seed: seed of its data split and initial weights.
        progress: called with each configuration's name as it starts.
        logdir: deprecated spelling of ``log_dir`` (a ``DeprecationWarning``).

    Example:
        >>> import tempfile
        >>> run("C8", "quick", tempfile.mkdtemp()).claim
        'C8'
    """
    from kerasnotes.experiments.base import check_mode, resolve_log_dir

    log_dir = resolve_log_dir(log_dir, logdir)
    check_mode(mode)
    return load(claim).run(mode=mode, log_dir=log_dir, seed=seed, progress=progress)
