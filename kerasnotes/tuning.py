"""keras-tuner searches over the notes' choices, logged for TensorBoard's HParams dashboard.

``NotesHyperModel`` is a ``keras_tuner.HyperModel`` whose search space is what
the notes teach: the optimizer (plain SGD, heavy-ball momentum, the notes' EMA
momentum, Adagrad, RMSprop, Adam) with its own conditional hyperparameters, a
learning-rate decay (none, exponential, step), the mini-batch size, a
normalization layer (none, batch, layer, group) and the depth and width of an
MLP. Every model it builds uses kerasnotes components only.

Each trial can log to its own TensorBoard run (``<log_dir>/trial_<id>/execution<k>``)
through ``kerasnotes.summary.Writer``, with the trial's hyperparameters written
as the HParams plugin's own protos, so the HParams dashboard shows the search on
every backend, without TensorFlow.

The same search scales past one machine with keras-tuner's chief/worker mode:
start one process with ``KERASTUNER_TUNER_ID=chief`` and any number with
``KERASTUNER_TUNER_ID=tuner<i>``, all with ``KERASTUNER_ORACLE_IP`` and
``KERASTUNER_ORACLE_PORT`` pointing at the chief (see ``examples/tuner_search.py``).

Example:
    >>> import keras_tuner as kt
    >>> from kerasnotes.tuning import NotesHyperModel
    >>> hypermodel = NotesHyperModel((64,), 10, optimizers=("adam", "sgd"), depth=1)
    >>> model = hypermodel.build(kt.HyperParameters())
    >>> model.output_shape
    (None, 10)
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import keras
import keras_tuner
import numpy as np

__all__ = [
    "DECAYS",
    "NORMALIZATIONS",
    "OPTIMIZERS",
    "NotesHyperModel",
    "SearchResult",
    "hparams_experiment_summary",
    "hparams_session_end_summary",
    "hparams_session_start_summary",
    "search_digits",
]

if TYPE_CHECKING:
    from tensorboard.compat.proto.summary_pb2 import Summary


_LOG = logging.getLogger(__name__)

#: Optimizer choices: the notes' F1 (sgd), F2k (momentum), F2 (momentum_ema), F3, F4, F5.
OPTIMIZERS = ("sgd", "momentum", "momentum_ema", "adagrad", "rmsprop", "adam")
#: Learning-rate decay choices: constant, F6 (exponential), F7 (step).
DECAYS = ("none", "exponential", "step")
#: Normalization choices: none, F11 (batch), F12 (layer, group).
NORMALIZATIONS = ("none", "batch", "layer", "group")

# Which optimizers own each conditional hyperparameter.
_MOMENTUM_OWNERS = ("momentum", "momentum_ema")
_RHO_OWNERS = ("rmsprop",)
_BETA_OWNERS = ("adam",)

# keras-tuner's Hyperband bookkeeping values ("tuner/epochs", ...) are not
# hyperparameters of the model; they stay out of the HParams dashboard.
_TUNER_PREFIX = "tuner/"

# Metrics the HParams dashboard lists for each session (scalars in the trial's run).
_METRIC_TAGS = ("epoch_loss", "epoch_accuracy", "epoch_val_loss", "epoch_val_accuracy")

Number = int | float
RangeSpec = Number | tuple[Number, Number]


# --------------------------------------------------------------------------- validation


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _choices(name: str, value: Any, allowed: Sequence[str] | None = None) -> tuple:
    """A fixed value or a non-empty sequence of choices -> a tuple without repeats."""
    if isinstance(value, str) or _is_int(value):
        items = (value,)
    elif isinstance(value, Sequence):
        items = tuple(value)
    else:
        raise TypeError(f"{name} must be a value or a sequence of values; got {name}={value!r}")
    if not items:
        raise ValueError(f"{name} must list at least one choice; got {name}={value!r}")
    for item in items:
        if allowed is not None:
            if item not in allowed:
                raise ValueError(
                    f"{name} contains {item!r}, which is not one of {list(allowed)}; "
                    f"got {name}={value!r}"
                )
        elif not _is_int(item) or item < 1:
            raise ValueError(f"{name} must hold positive ints; got {name}={value!r}")
    return tuple(int(i) if _is_int(i) else i for i in dict.fromkeys(items))


def _range(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    integer: bool = False,
    open_low: bool = False,
    open_high: bool = False,
) -> Number | tuple[Number, Number]:
    """A fixed number or a ``(min, max)`` pair inside [low, high] (ends open where asked)."""
    check = _is_int if integer else _is_number
    kind = "int" if integer else "number"
    if check(value):
        pair = (value, value)
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        pair = tuple(value)
        if not all(check(v) for v in pair):
            raise TypeError(f"{name} must hold two {kind}s; got {name}={value!r}")
    else:
        raise TypeError(f"{name} must be a {kind} or a (min, max) pair; got {name}={value!r}")
    lo, hi = (int(v) for v in pair) if integer else (float(v) for v in pair)
    lo_ok = lo > low if open_low else lo >= low
    hi_ok = hi < high if open_high else hi <= high
    if not (lo_ok and hi_ok and lo <= hi and math.isfinite(lo) and math.isfinite(hi)):
        interval = f"{'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
        raise ValueError(f"{name} must lie in {interval} with min <= max; got {name}={value!r}")
    return lo if lo == hi else (lo, hi)


def _input_shape(value: Any) -> tuple[int, ...]:
    shape = (value,) if _is_int(value) else value
    if (
        not isinstance(shape, Sequence)
        or isinstance(shape, str)
        or not shape
        or not all(_is_int(d) and d > 0 for d in shape)
    ):
        raise ValueError(
            "input_shape must be a non-empty tuple of positive ints (the shape of one sample, "
            f"without the batch axis), e.g. (64,); got input_shape={value!r}"
        )
    return tuple(int(d) for d in shape)


def _widths(width: Number | tuple[int, int]) -> tuple[int, ...]:
    """Every width the space can pick: a fixed width, or min, 2·min, 4·min, ... <= max."""
    if isinstance(width, int):
        return (width,)
    values, w = [], width[0]
    while w <= width[1]:
        values.append(w)
        w *= 2
    return tuple(values)


# --------------------------------------------------------------------------- hyperparameters


def _float_hp(hp, name: str, spec: RangeSpec, default: float, sampling: str) -> float:
    if not isinstance(spec, tuple):
        return hp.Fixed(name, float(spec))
    lo, hi = spec
    if sampling != "linear" and lo <= 0:
        sampling = "linear"  # log scales need a positive lower end
    return hp.Float(name, lo, hi, sampling=sampling, default=min(max(default, lo), hi))


def _int_hp(hp, name: str, spec: RangeSpec, *, doubling: bool = False) -> int:
    if not isinstance(spec, tuple):
        return hp.Fixed(name, int(spec))
    lo, hi = spec
    if doubling:
        return hp.Int(name, lo, hi, step=2, sampling="log")
    return hp.Int(name, lo, hi)


def _choice_hp(hp, name: str, values: tuple) -> Any:
    if len(values) == 1:
        return hp.Fixed(name, values[0])
    return hp.Choice(name, list(values))


def _check_override(name: str, value: Any, argument: str, allowed: tuple) -> None:
    """A value fixed through keras-tuner's own ``HyperParameters`` must be one the model allows.

    The conditional hyperparameters exist only for the allowed choices, so a
    value outside them could not be built.
    """
    if value not in allowed:
        raise ValueError(
            f"hyperparameter {name}={value!r} is not among {argument}={list(allowed)}; "
            f"widen {argument} or fix {name} to one of them"
        )


def _conditional(hp, parent: str, owners: tuple, allowed: tuple, declare) -> Any:
    """Declare a hyperparameter active only when ``parent`` is one of ``owners``.

    Nothing is declared when no allowed value of the parent uses it (a search
    over Adam alone has no ``momentum`` entry).
    """
    values = [v for v in owners if v in allowed]
    if not values:
        return None
    with hp.conditional_scope(parent, values):
        return declare()


# --------------------------------------------------------------------------- HParams protos


def _hparams_summary(tag: str, plugin_data: Any) -> Summary:
    """A ``Summary`` carrying one HParams plugin message, as the HParams plugin reads it."""
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.hparams import metadata

    summary = summary_pb2.Summary()
    summary.value.add(
        tag=tag,
        metadata=metadata.create_summary_metadata(plugin_data),
        tensor=metadata.NULL_TENSOR,
    )
    return summary


def _hparam_info(hyperparameter):
    """keras-tuner hyperparameter -> ``api_pb2.HParamInfo`` (its domain included)."""
    from tensorboard.plugins.hparams import api_pb2

    hp_types = keras_tuner.engine.hyperparameters
    info = api_pb2.HParamInfo(name=hyperparameter.name)
    if isinstance(hyperparameter, (hp_types.Float, hp_types.Int)):
        info.type = api_pb2.DATA_TYPE_FLOAT64
        info.domain_interval.min_value = float(hyperparameter.min_value)
        info.domain_interval.max_value = float(hyperparameter.max_value)
        return info
    if isinstance(hyperparameter, hp_types.Boolean):
        values = [False, True]
    elif isinstance(hyperparameter, hp_types.Choice):
        values = list(hyperparameter.values)
    elif isinstance(hyperparameter, hp_types.Fixed):
        values = [hyperparameter.value]
    else:
        return info
    if all(isinstance(v, bool) for v in values):
        info.type = api_pb2.DATA_TYPE_BOOL
    elif all(isinstance(v, str) for v in values):
        info.type = api_pb2.DATA_TYPE_STRING
    else:
        info.type = api_pb2.DATA_TYPE_FLOAT64
        values = [float(v) for v in values]
    info.domain_discrete.extend(values)
    return info


def hparams_experiment_summary(
    hyperparameters: keras_tuner.HyperParameters,
    metrics: Sequence[str] = _METRIC_TAGS,
    time_created_secs: float | None = None,
) -> Summary:
    """The HParams experiment: every hyperparameter of the space with its domain, and the metrics.

    ```
    Summary{ tag "_hparams_/experiment",
             metadata.plugin_data{ plugin_name "hparams",
                                   content HParamsPluginData{ experiment: Experiment{
                                       hparam_infos [name, type, domain], metric_infos [tag] } } } }
    ```

    Written once in the root run of a search's log directory; ``Choice`` and
    ``Fixed`` become discrete domains, ``Int`` and ``Float`` intervals. The
    unconditional hyperparameters come first (the dashboard's default columns,
    which every trial fills), the conditional ones (inside a
    ``hp.conditional_scope``) after them.

    Args:
        hyperparameters: the search space (``trial.hyperparameters``), inactive entries included.
        metrics: the scalar tags of each session's run that the dashboard compares.
        time_created_secs: creation time; now when None.

    Difference from ``tensorboard.plugins.hparams.summary_v2.hparams_config_pb``:
    takes keras-tuner's space directly.

    Example:
        >>> import keras_tuner as kt
        >>> hp = kt.HyperParameters()
        >>> _ = hp.Choice("optimizer", ["adam", "sgd"])
        >>> with hp.conditional_scope("optimizer", ["adam"]):
        ...     _ = hp.Float("beta_1", 0.8, 0.99)
        >>> _ = hp.Int("depth", 1, 3)
        >>> summary = hparams_experiment_summary(hp)
        >>> summary.value[0].tag
        '_hparams_/experiment'
        >>> from tensorboard.plugins.hparams import plugin_data_pb2
        >>> data = plugin_data_pb2.HParamsPluginData.FromString(
        ...     summary.value[0].metadata.plugin_data.content)
        >>> [info.name for info in data.experiment.hparam_infos]
        ['optimizer', 'depth', 'beta_1']
    """
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    seen: dict[str, Any] = {}
    conditional: set[str] = set()
    for hyperparameter in hyperparameters.space:
        if not hyperparameter.name.startswith(_TUNER_PREFIX):
            seen.setdefault(hyperparameter.name, _hparam_info(hyperparameter))
            if getattr(hyperparameter, "conditions", None):
                conditional.add(hyperparameter.name)
    # The dashboard selects its first columns by default, and a trial is drawn in the
    # parallel-coordinates view only if it has a value in every selected column: the
    # hyperparameters every trial has (optimizer, learning rate, ...) come first, in the
    # space's order, and the conditional ones (beta_1, decay_drop, ...) after them.
    ordered = sorted(seen, key=lambda name: name in conditional)
    experiment = api_pb2.Experiment(
        hparam_infos=[seen[name] for name in ordered],
        metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag)) for tag in metrics],
        time_created_secs=time.time() if time_created_secs is None else time_created_secs,
    )
    return _hparams_summary(
        metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(experiment=experiment)
    )


def hparams_session_start_summary(
    values: dict[str, Any], group_name: str, start_time_secs: float | None = None
) -> Summary:
    """The HParams session start: one trial's hyperparameter values.

    ```
    Summary{ tag "_hparams_/session_start_info",
             content HParamsPluginData{ session_start_info: SessionStartInfo{
                 hparams {name: bool | number | string}, group_name, start_time_secs } } }
    ```

    Sessions with the same ``group_name`` (one per execution of a trial) form
    one row of the dashboard; ``None`` values (inactive hyperparameters) are
    left out.

    Args:
        values: hyperparameter name -> bool, int, float or str.
        group_name: the trial's id.
        start_time_secs: start time; now when None.

    Example:
        >>> summary = hparams_session_start_summary({"optimizer": "adam", "width": 64}, "00")
        >>> summary.value[0].tag
        '_hparams_/session_start_info'
    """
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    info = plugin_data_pb2.SessionStartInfo(
        group_name=str(group_name),
        start_time_secs=time.time() if start_time_secs is None else start_time_secs,
    )
    for name in sorted(values):
        value = values[name]
        if isinstance(value, np.generic):
            value = value.item()
        if value is None:
            continue
        if isinstance(value, bool):
            info.hparams[name].bool_value = value
        elif isinstance(value, (int, float)):
            info.hparams[name].number_value = float(value)
        elif isinstance(value, str):
            info.hparams[name].string_value = value
        else:
            raise TypeError(
                f"values[{name!r}] must be a bool, number or str; got {value!r} ({type(value).__name__})"
            )
    return _hparams_summary(
        metadata.SESSION_START_INFO_TAG,
        plugin_data_pb2.HParamsPluginData(session_start_info=info),
    )


def hparams_session_end_summary(success: bool, end_time_secs: float | None = None) -> Summary:
    """The HParams session end: whether the trial's training finished with finite losses.

    ```
    Summary{ tag "_hparams_/session_end_info",
             content HParamsPluginData{ session_end_info: SessionEndInfo{
                 status STATUS_SUCCESS | STATUS_FAILURE, end_time_secs } } }
    ```

    Args:
        success: True for ``STATUS_SUCCESS``, False for ``STATUS_FAILURE``.
        end_time_secs: end time; now when None.

    Example:
        >>> hparams_session_end_summary(True).value[0].tag
        '_hparams_/session_end_info'
    """
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    info = plugin_data_pb2.SessionEndInfo(
        status=api_pb2.STATUS_SUCCESS if success else api_pb2.STATUS_FAILURE,
        end_time_secs=time.time() if end_time_secs is None else end_time_secs,
    )
    return _hparams_summary(
        metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_end_info=info)
    )


# --------------------------------------------------------------------------- trial logging


def _loggable(values: dict[str, Any]) -> dict[str, Any]:
    """Active hyperparameter values the HParams dashboard can show."""
    out = {}
    for name, value in values.items():
        if name.startswith(_TUNER_PREFIX) or value is None:
            continue
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, (bool, int, float, str)):
            out[name] = value
    return out


class _TrialLogger(keras.callbacks.Callback):
    """Writes one trial execution's session start, per-epoch metrics and session end."""

    def __init__(self, run_dir: str, group_name: str, values: dict[str, Any]) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.group_name = group_name
        self.values = values
        self.finite = True
        self._writer = None

    def _open(self):
        from kerasnotes.summary import Writer

        if self._writer is None:
            self._writer = Writer.for_logdir(self.run_dir)
            self._writer.summary(
                hparams_session_start_summary(self.values, self.group_name), step=0
            )
            self._writer.flush()
        return self._writer

    def on_train_begin(self, logs=None):
        self._open()

    def on_epoch_end(self, epoch, logs=None):
        writer = self._open()
        for key, value in (logs or {}).items():
            try:
                number = float(np.asarray(value, dtype=np.float64).reshape(()))
            except (TypeError, ValueError):
                continue
            if not math.isfinite(number):
                if self.finite:
                    _LOG.warning(
                        "trial %s: %s=%s at epoch %d; the session is marked failed",
                        self.group_name,
                        key,
                        number,
                        epoch,
                    )
                self.finite = False
            writer.scalar(f"epoch_{key}", number, step=epoch)
        if "learning_rate" not in (logs or {}):
            learning_rate = getattr(self.model.optimizer, "learning_rate", None)
            if learning_rate is not None:
                rate = float(np.asarray(keras.ops.convert_to_numpy(learning_rate)))
                writer.scalar("epoch_learning_rate", rate, step=epoch)
        writer.flush()

    def on_train_end(self, logs=None):
        self.finish(self.finite)

    def finish(self, success: bool) -> None:
        """Write the session end (once) and close the run's writer."""
        if self._writer is None or self._writer.closed:
            return
        self._writer.summary(hparams_session_end_summary(success), step=0)
        self._writer.close()


def _trial_id(callbacks: Sequence[Any], values: dict[str, Any]) -> str:
    """The keras-tuner trial being fitted, or a hash of the values outside a search."""
    for callback in callbacks:
        trial = getattr(callback, "trial", None)
        if getattr(trial, "trial_id", None) is not None:
            return str(trial.trial_id)
    text = json.dumps(_loggable(values), sort_keys=True)
    return "fit_" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


#: Subfolder of a trial execution's run where an earlier, unfinished attempt's events go.
INTERRUPTED_DIR = "interrupted"


def set_aside_earlier_events(run_dir: str) -> str | None:
    """Move the event files an earlier attempt left in ``run_dir`` aside; return where to.

    ```
    <run>/events.out.tfevents.<t>.<host>.<pid>.<n>
      -> <run>/interrupted/<UTC time>-<pid>/events.out.interrupted.<t>.<host>.<pid>.<n>
    ```

    A resumed search (``overwrite=False``) re-runs a trial that was interrupted,
    and keras-tuner retries a trial whose fit raised; both train the same
    ``trial_<id>/execution<k>`` again. Appending a second event file would give
    that run duplicate steps and two HParams sessions, so the re-run starts in a
    clean run. The earlier attempt is not a completed trial, but nothing is
    deleted: its files are moved, renamed without "tfevents" so that TensorBoard
    no longer reads them (rename them back to look at them).

    Args:
        run_dir: a trial execution's run directory (it may not exist yet).

    Returns:
        The folder the files went to, or None when there were none.

    Example:
        >>> import os, tempfile
        >>> run = tempfile.mkdtemp()
        >>> open(os.path.join(run, "events.out.tfevents.1.host.2.3"), "wb").close()
        >>> aside = set_aside_earlier_events(run)
        >>> os.listdir(aside), [n for n in os.listdir(run) if "tfevents" in n]
        (['events.out.interrupted.1.host.2.3'], [])
    """
    try:
        names = sorted(
            name
            for name in os.listdir(run_dir)
            if "tfevents" in name and os.path.isfile(os.path.join(run_dir, name))
        )
    except FileNotFoundError:
        return None
    if not names:
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = os.path.join(run_dir, INTERRUPTED_DIR, f"{stamp}-{os.getpid()}")
    os.makedirs(aside, exist_ok=True)
    for name in names:
        os.replace(
            os.path.join(run_dir, name),
            os.path.join(aside, name.replace("tfevents", "interrupted")),
        )
    _LOG.warning(
        "%s held events of an earlier, unfinished attempt at this trial; moved them to %s",
        run_dir,
        aside,
    )
    return aside


def _accepts_batch_size(x: Any) -> bool:
    """Whether ``model.fit`` takes ``batch_size`` with this ``x`` (arrays yes, datasets no)."""
    if isinstance(x, (np.ndarray, list, tuple, dict)):
        return True
    return hasattr(x, "shape") and hasattr(x, "dtype")


# --------------------------------------------------------------------------- the hypermodel


@keras.saving.register_keras_serializable(package="kerasnotes")
class NotesHyperModel(keras_tuner.HyperModel):
    """An MLP classifier whose search space is the notes' optimizers, decays, batches and norms.

    The hyperparameters (names as keras-tuner and the HParams dashboard show them):

    ```
    optimizer      sgd           θ ← θ − α∇L                                        (F1)
                   momentum      v ← βv − α∇L, θ ← θ + v                            (F2k)
                   momentum_ema  v ← βv + (1−β)∇L, θ ← θ − αv                       (F2)
                   adagrad       g ← g + (∇L)², θ ← θ − α∇L/√(g+ε)                  (F3)
                   rmsprop       E ← ρE + (1−ρ)(∇L)², θ ← θ − α∇L/√(E+ε)            (F4)
                   adam          momentum + RMSprop with bias correction            (F5)
    learning_rate  α, log scale                        (every optimizer)
    momentum       β, dense near 1                     (only momentum, momentum_ema)
    rho            ρ, dense near 1                     (only rmsprop)
    beta_1, beta_2 β₁, β₂, dense near 1                (only adam)
    lr_decay       none | exponential α_t = α·e^{−γt} (F6) | step α_t = α·drop^⌊t/every⌋ (F7),
                   t in epochs
    decay_rate     γ, log scale                        (only exponential)
    decay_drop     drop; decay_every: every            (only step)
    batch_size     mini-batch size                     (chosen in fit)
    normalization  none | batch (F11) | layer | group (F12), between Dense and activation
    groups         channel groups                      (only group)
    depth, width   hidden Dense layers and their units (width: min, 2·min, 4·min, ... <= max)
    ```

    Each argument fixes its hyperparameter (a single value) or bounds it (a
    sequence of choices, or a ``(min, max)`` pair); keras-tuner's own
    ``HyperParameters`` passed to a tuner with ``tune_new_entries=False``
    override the rest. Conditional hyperparameters are declared only for the
    allowed choices that use them. The model outputs logits and trains with
    ``kerasnotes.losses.SparseCategoricalCrossentropy(from_logits=True)`` and
    the ``accuracy`` metric; the decay runs through
    ``kerasnotes.callbacks.LearningRateDecay(per="epoch")`` added in ``fit``.

    With ``log_dir`` set, every ``fit`` (one trial execution) logs to
    ``<log_dir>/trial_<id>/execution<k>`` through ``kerasnotes.summary.Writer``:
    the HParams session start (the trial's active values), ``epoch_<metric>``
    scalars, ``epoch_learning_rate`` and the session end (failure when a metric
    turned NaN or Inf, or fit raised); ``<log_dir>`` itself gets the HParams
    experiment (every hyperparameter with its domain). ``histories`` keeps each
    trial's per-epoch metrics (trial id -> one history dict per execution).
    An execution run that already holds events (an interrupted trial re-run by
    a resumed search, or a retried one) starts clean: the old files are moved
    to ``<run>/interrupted/`` (see ``set_aside_earlier_events``).

    Args:
        input_shape: shape of one sample, e.g. ``(64,)``; inputs of rank > 1 are flattened.
        num_classes: number of classes, >= 2 (labels are ints in [0, num_classes)).
        optimizers: allowed names from ``OPTIMIZERS``, or one name to fix it.
        learning_rate: α: a float > 0 or a ``(min, max)`` log-scale range.
        momentum: β of both momentum forms, in [0, 1), fixed or a range.
        rho: ρ of RMSprop, in [0, 1), fixed or a range.
        beta_1: β₁ of Adam, in [0, 1), fixed or a range.
        beta_2: β₂ of Adam, in [0, 1), fixed or a range.
        decays: allowed names from ``DECAYS``, or one name.
        decay_rate: γ of the exponential decay (per epoch), > 0, fixed or a log range.
        decay_drop: factor of the step decay, in (0, 1], fixed or a range.
        decay_every: epochs between steps of the step decay, int >= 1, fixed or a range.
        normalizations: allowed names from ``NORMALIZATIONS``, or one name.
        groups: group counts for group normalization (each must divide every width).
        depth: hidden layers, int >= 1, fixed or a range.
        width: units per hidden layer, int >= 1, fixed or a ``(min, max)`` range of doublings.
        batch_sizes: allowed mini-batch sizes (positive ints), or one size.
        activation: activation of the hidden layers (a Keras activation name).
        log_dir: root directory of the TensorBoard runs, or None for no logging.
        name: name of the hypermodel.
        tunable: whether keras-tuner may add this model's hyperparameters to the space.

    Difference from keras-tuner's ``HyperModel``: a complete, validated search
    space over the notes' components; ``fit`` picks the batch size and the
    decay and logs each trial for the HParams dashboard without TensorFlow.

    Example:
        >>> import keras_tuner as kt
        >>> hypermodel = NotesHyperModel((64,), 10, optimizers="momentum_ema",
        ...                              learning_rate=0.05, normalizations="batch", depth=2)
        >>> hp = kt.HyperParameters()
        >>> model = hypermodel.build(hp)
        >>> hp.values["optimizer"], hp.values["momentum"] > 0.5, len(model.layers)
        ('momentum_ema', True, 8)
    """

    def __init__(
        self,
        input_shape: int | Sequence[int],
        num_classes: int,
        *,
        optimizers: str | Sequence[str] = OPTIMIZERS,
        learning_rate: RangeSpec = (1e-4, 0.3),
        momentum: RangeSpec = (0.5, 0.99),
        rho: RangeSpec = (0.8, 0.999),
        beta_1: RangeSpec = (0.8, 0.95),
        beta_2: RangeSpec = (0.99, 0.9999),
        decays: str | Sequence[str] = DECAYS,
        decay_rate: RangeSpec = (0.01, 0.5),
        decay_drop: RangeSpec = (0.2, 0.8),
        decay_every: RangeSpec = (2, 10),
        normalizations: str | Sequence[str] = NORMALIZATIONS,
        groups: int | Sequence[int] = (2, 4, 8),
        depth: RangeSpec = (1, 3),
        width: RangeSpec = (32, 256),
        batch_sizes: int | Sequence[int] = (16, 32, 64, 128, 256),
        activation: str = "relu",
        log_dir: str | os.PathLike | None = None,
        name: str | None = None,
        tunable: bool = True,
    ) -> None:
        super().__init__(name=name, tunable=tunable)
        self.input_shape = _input_shape(input_shape)
        if not _is_int(num_classes):
            raise TypeError(f"num_classes must be an int >= 2; got num_classes={num_classes!r}")
        if num_classes < 2:
            raise ValueError(
                f"num_classes must be >= 2 (a classifier needs two classes); "
                f"got num_classes={num_classes!r}"
            )
        self.num_classes = int(num_classes)
        self.optimizers = _choices("optimizers", optimizers, OPTIMIZERS)
        self.learning_rate = _range("learning_rate", learning_rate, 0.0, math.inf, open_low=True)
        self.momentum = _range("momentum", momentum, 0.0, 1.0, open_high=True)
        self.rho = _range("rho", rho, 0.0, 1.0, open_high=True)
        self.beta_1 = _range("beta_1", beta_1, 0.0, 1.0, open_high=True)
        self.beta_2 = _range("beta_2", beta_2, 0.0, 1.0, open_high=True)
        self.decays = _choices("decays", decays, DECAYS)
        self.decay_rate = _range("decay_rate", decay_rate, 0.0, math.inf, open_low=True)
        self.decay_drop = _range("decay_drop", decay_drop, 0.0, 1.0, open_low=True)
        self.decay_every = _range("decay_every", decay_every, 1, 1_000_000, integer=True)
        self.normalizations = _choices("normalizations", normalizations, NORMALIZATIONS)
        self.groups = _choices("groups", groups)
        self.depth = _range("depth", depth, 1, 1_000, integer=True)
        self.width = _range("width", width, 1, 1_000_000, integer=True)
        self.batch_sizes = _choices("batch_sizes", batch_sizes)
        if not isinstance(activation, str):
            raise TypeError(f"activation must be a Keras activation name; got {activation!r}")
        try:
            keras.activations.get(activation)
        except (ValueError, TypeError) as error:
            raise ValueError(
                f"activation must be a Keras activation name; got activation={activation!r}"
            ) from error
        self.activation = activation
        if "group" in self.normalizations:
            for g in self.groups:
                bad = [w for w in _widths(self.width) if w % g]
                if bad:
                    raise ValueError(
                        f"groups={list(self.groups)} must divide every width; {g} does not divide "
                        f"{bad[0]} (width={width!r}); pick widths that are multiples of the groups"
                    )
        if log_dir is not None and (
            not isinstance(log_dir, (str, os.PathLike)) or not os.fspath(log_dir)
        ):
            raise TypeError(f"log_dir must be a path or None; got log_dir={log_dir!r}")
        self.log_dir = None if log_dir is None else os.fspath(log_dir)
        self.histories: dict[str, list[dict[str, list[float]]]] = {}
        self._experiment_written = False

    # -- the search space ------------------------------------------------------------------

    def _choose(self, hp) -> dict[str, Any]:
        """Declare every hyperparameter on ``hp`` and return this trial's choices.

        Calling it again on the same ``hp`` (as ``fit`` does) re-reads the same
        values: keras-tuner returns an existing entry instead of a new one.
        """
        optimizer = _choice_hp(hp, "optimizer", self.optimizers)
        _check_override("optimizer", optimizer, "optimizers", self.optimizers)
        chosen: dict[str, Any] = {
            "optimizer": optimizer,
            "learning_rate": _float_hp(hp, "learning_rate", self.learning_rate, 1e-2, "log"),
        }
        # The decay's parameters are declared even when a search never picks
        # them, so that keras-tuner sees the whole space before the first trial.
        chosen["momentum"] = _conditional(
            hp,
            "optimizer",
            _MOMENTUM_OWNERS,
            self.optimizers,
            lambda: _float_hp(hp, "momentum", self.momentum, 0.9, "reverse_log"),
        )
        chosen["rho"] = _conditional(
            hp,
            "optimizer",
            _RHO_OWNERS,
            self.optimizers,
            lambda: _float_hp(hp, "rho", self.rho, 0.9, "reverse_log"),
        )
        chosen["beta_1"] = _conditional(
            hp,
            "optimizer",
            _BETA_OWNERS,
            self.optimizers,
            lambda: _float_hp(hp, "beta_1", self.beta_1, 0.9, "reverse_log"),
        )
        chosen["beta_2"] = _conditional(
            hp,
            "optimizer",
            _BETA_OWNERS,
            self.optimizers,
            lambda: _float_hp(hp, "beta_2", self.beta_2, 0.999, "reverse_log"),
        )
        chosen["lr_decay"] = _choice_hp(hp, "lr_decay", self.decays)
        _check_override("lr_decay", chosen["lr_decay"], "decays", self.decays)
        chosen["decay_rate"] = _conditional(
            hp,
            "lr_decay",
            ("exponential",),
            self.decays,
            lambda: _float_hp(hp, "decay_rate", self.decay_rate, 0.1, "log"),
        )
        chosen["decay_drop"] = _conditional(
            hp,
            "lr_decay",
            ("step",),
            self.decays,
            lambda: _float_hp(hp, "decay_drop", self.decay_drop, 0.5, "linear"),
        )
        chosen["decay_every"] = _conditional(
            hp,
            "lr_decay",
            ("step",),
            self.decays,
            lambda: _int_hp(hp, "decay_every", self.decay_every),
        )
        chosen["batch_size"] = _choice_hp(hp, "batch_size", self.batch_sizes)
        chosen["normalization"] = _choice_hp(hp, "normalization", self.normalizations)
        _check_override(
            "normalization", chosen["normalization"], "normalizations", self.normalizations
        )
        chosen["groups"] = _conditional(
            hp,
            "normalization",
            ("group",),
            self.normalizations,
            lambda: _choice_hp(hp, "groups", self.groups),
        )
        chosen["depth"] = _int_hp(hp, "depth", self.depth)
        chosen["width"] = _int_hp(hp, "width", self.width, doubling=True)
        return chosen

    # -- keras-tuner's HyperModel interface -------------------------------------------------

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        """Build and compile the model for one trial's hyperparameters.

        ```
        x → [Dense(width, no bias if normalized) → normalization → activation] × depth
          → Dense(num_classes) → logits
        loss = −1/N Σ_i log softmax(z_i)[y_i]          (F9, F10)
        ```

        Args:
            hp: the trial's ``keras_tuner.HyperParameters``.

        Returns:
            A compiled ``keras.Model`` producing logits.

        Example:
            >>> import keras_tuner as kt
            >>> model = NotesHyperModel((8, 8), 10, depth=1).build(kt.HyperParameters())
            >>> model.input_shape
            (None, 8, 8)
        """
        chosen = self._choose(hp)
        from kerasnotes import layers as kn_layers
        from kerasnotes import losses

        inputs = keras.Input(shape=self.input_shape, name="inputs")
        x = keras.layers.Flatten(name="flatten")(inputs) if len(self.input_shape) > 1 else inputs
        normalization = chosen["normalization"]
        for i in range(chosen["depth"]):
            # A normalization's β shift replaces the Dense bias (F11: y = γx̂ + β).
            x = keras.layers.Dense(
                chosen["width"], use_bias=normalization == "none", name=f"dense_{i}"
            )(x)
            if normalization == "batch":
                x = kn_layers.BatchNormalization(name=f"batch_norm_{i}")(x)
            elif normalization == "layer":
                x = kn_layers.LayerNormalization(name=f"layer_norm_{i}")(x)
            elif normalization == "group":
                x = kn_layers.GroupNormalization(groups=chosen["groups"], name=f"group_norm_{i}")(x)
            x = keras.layers.Activation(self.activation, name=f"activation_{i}")(x)
        outputs = keras.layers.Dense(self.num_classes, name="logits")(x)
        model = keras.Model(inputs, outputs, name="notes_mlp")
        model.compile(
            optimizer=self._optimizer(chosen),
            loss=losses.SparseCategoricalCrossentropy(from_logits=True),
            # An object, not the name "accuracy", and the optimizer's slots made now:
            # a variable first created inside the training step makes TensorFlow
            # trace that step twice (0.15-0.35 s more per trial). Same logs, same key.
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
        model.optimizer.build(model.trainable_variables)
        return model

    @staticmethod
    def _optimizer(chosen: dict[str, Any]) -> keras.optimizers.Optimizer:
        from kerasnotes import optimizers

        name, rate = chosen["optimizer"], chosen["learning_rate"]
        if name == "sgd":
            return optimizers.SGD(learning_rate=rate)
        if name == "momentum":
            return optimizers.SGD(learning_rate=rate, momentum=chosen["momentum"])
        if name == "momentum_ema":
            return optimizers.SGD(
                learning_rate=rate, momentum=chosen["momentum"], momentum_form="ema"
            )
        if name == "adagrad":
            return optimizers.Adagrad(learning_rate=rate)
        if name == "rmsprop":
            return optimizers.RMSprop(learning_rate=rate, rho=chosen["rho"])
        return optimizers.Adam(learning_rate=rate, beta_1=chosen["beta_1"], beta_2=chosen["beta_2"])

    @staticmethod
    def _decay_callback(chosen: dict[str, Any]) -> keras.callbacks.Callback | None:
        if chosen["lr_decay"] == "none":
            return None
        from kerasnotes import callbacks, schedules

        if chosen["lr_decay"] == "exponential":
            schedule = schedules.ExponentialDecay(
                chosen["learning_rate"], gamma=chosen["decay_rate"], steps_per_unit=1
            )
        elif chosen["lr_decay"] == "step":
            schedule = schedules.StepDecay(
                chosen["learning_rate"],
                drop=chosen["decay_drop"],
                every=chosen["decay_every"],
                steps_per_unit=1,
            )
        return callbacks.LearningRateDecay(schedule, per="epoch")

    def fit(self, hp: keras_tuner.HyperParameters, model: keras.Model, *args, **kwargs):
        """Train one trial: its batch size and decay, plus a TensorBoard run when ``log_dir`` is set.

        ```
        model.fit(x, y, batch_size=hp["batch_size"],
                  callbacks=callbacks + [LearningRateDecay(schedule, per="epoch")], ...)
        ```

        A ``batch_size`` passed to ``tuner.search`` wins over the
        hyperparameter (and is what the trial's run records); datasets that
        batch themselves get none.

        Args:
            hp: the trial's hyperparameters (the ones ``build`` used).
            model: the model ``build`` returned.
            *args: ``model.fit`` positional arguments (``x``, ``y``).
            **kwargs: ``model.fit`` keyword arguments; ``callbacks`` holds the
                search's (deep-copied) callbacks and keras-tuner's own.

        Returns:
            The ``History`` of ``model.fit``.

        Example:
            >>> import keras_tuner as kt, numpy as np
            >>> hypermodel = NotesHyperModel((4,), 3, depth=1, width=8, normalizations="none",
            ...                              groups=2, decays="step", decay_every=1)
            >>> hp = kt.HyperParameters()
            >>> model = hypermodel.build(hp)
            >>> x, y = np.random.rand(32, 4).astype("float32"), np.arange(32) % 3
            >>> len(hypermodel.fit(hp, model, x, y, epochs=2, verbose=0).history["loss"])
            2
        """
        chosen = self._choose(hp)
        kwargs = dict(kwargs)
        callbacks = list(kwargs.pop("callbacks", None) or [])
        x = args[0] if args else kwargs.get("x")
        if "batch_size" in kwargs:
            chosen["batch_size"] = kwargs["batch_size"]
        elif x is not None and _accepts_batch_size(x):
            kwargs["batch_size"] = chosen["batch_size"]
        decay = self._decay_callback(chosen)
        if decay is not None:
            callbacks.insert(0, decay)  # set the epoch's rate before anything reads it
        trial_id = _trial_id(callbacks, hp.values)
        logger = None
        if self.log_dir is not None:
            self._write_experiment(hp)
            execution = len(self.histories.get(trial_id, ()))
            values = {**_loggable(hp.values), "batch_size": chosen["batch_size"]}
            run_dir = os.path.join(self.log_dir, f"trial_{trial_id}", f"execution{execution}")
            # This process has not run this execution yet (``execution`` counts its
            # completed ones), so any events there are an interrupted attempt's.
            set_aside_earlier_events(run_dir)
            logger = _TrialLogger(run_dir, trial_id, values)
            callbacks.append(logger)
        try:
            history = model.fit(*args, callbacks=callbacks, **kwargs)
        except BaseException:
            if logger is not None:
                logger.finish(success=False)
            raise
        self.histories.setdefault(trial_id, []).append(
            {key: [float(v) for v in values] for key, values in history.history.items()}
        )
        return history

    def _write_experiment(self, hp) -> None:
        if self._experiment_written:
            return
        from kerasnotes.summary import Writer

        # Its own file in the root run: every process of a distributed search
        # writes the same experiment, and TensorBoard reads any one of them.
        with Writer(self.log_dir, filename_suffix=".hparams") as writer:
            writer.summary(hparams_experiment_summary(hp), step=0)
        self._experiment_written = True

    # -- serialization ---------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as plain JSON values (``from_config`` rebuilds an equal space).

        Example:
            >>> config = NotesHyperModel((64,), 10).get_config()
            >>> NotesHyperModel.from_config(config).get_config() == config
            True
        """

        def plain(value):
            return list(value) if isinstance(value, tuple) else value

        return {
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "optimizers": plain(self.optimizers),
            "learning_rate": plain(self.learning_rate),
            "momentum": plain(self.momentum),
            "rho": plain(self.rho),
            "beta_1": plain(self.beta_1),
            "beta_2": plain(self.beta_2),
            "decays": plain(self.decays),
            "decay_rate": plain(self.decay_rate),
            "decay_drop": plain(self.decay_drop),
            "decay_every": plain(self.decay_every),
            "normalizations": plain(self.normalizations),
            "groups": plain(self.groups),
            "depth": plain(self.depth),
            "width": plain(self.width),
            "batch_sizes": plain(self.batch_sizes),
            "activation": self.activation,
            "log_dir": self.log_dir,
            "name": self.name,
            "tunable": self.tunable,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> NotesHyperModel:
        """Rebuild a hypermodel from ``get_config``'s output.

        Args:
            config: the dict ``get_config`` returned (JSON round trips are fine).
        """
        return cls(**config)


# --------------------------------------------------------------------------- digits search

_TUNERS = ("random", "bayesian", "hyperband")


@dataclass
class SearchResult:
    """What a search found: the best trial's values and validation accuracy, and every trial.

    Args:
        best_hyperparameters: the best trial's active hyperparameter values.
        val_accuracy: the best trial's objective (best epoch's validation accuracy).
        trials: trial id -> {"status", "score", "hyperparameters"} for every trial.
        directory: the keras-tuner project's directory (checkpoints, oracle state).
        seconds: wall time of the search.
        tuner: the keras-tuner tuner, for ``get_best_models`` and the like.
    """

    best_hyperparameters: dict[str, Any]
    val_accuracy: float
    trials: dict[str, dict[str, Any]]
    directory: str
    seconds: float
    tuner: Any = field(default=None, repr=False)


def _trials_table(oracle) -> dict[str, dict[str, Any]]:
    return {
        trial_id: {
            "status": str(trial.status),
            "score": None if trial.score is None else float(trial.score),
            "hyperparameters": _loggable(trial.hyperparameters.values),
        }
        for trial_id, trial in oracle.trials.items()
    }


def search_digits(
    max_trials: int = 12,
    epochs: int = 12,
    logdir: str | os.PathLike | None = None,
    quick: bool = False,
    *,
    tuner: str = "bayesian",
    directory: str | os.PathLike | None = None,
    project_name: str = "digits",
    subset: int | None = None,
    seed: int = 0,
    overwrite: bool = True,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int = 0,
    **hypermodel_kwargs: Any,
) -> SearchResult:
    """Search ``NotesHyperModel`` on scikit-learn's digits and return the best configuration.

    ```
    maximise  val_accuracy(best epoch)  over  NotesHyperModel's space
    ```

    Trains on 80% of the 1,797 digits and scores on the other 20%. Under
    keras-tuner's chief/worker environment variables this function is one
    process of a distributed search: the chief serves the oracle and returns
    when every trial is done; workers run trials (their ``trials`` then hold
    only their own, with scores from their histories).

    Args:
        max_trials: trials to run (Hyperband: its budget comes from ``epochs``).
        epochs: epochs per trial (Hyperband: ``max_epochs``).
        logdir: TensorBoard root for the trials' runs, or None.
        quick: a smoke-test budget: 3 trials of 2 epochs on 600 training samples.
        tuner: ``"random"``, ``"bayesian"`` or ``"hyperband"``.
        directory: keras-tuner's project root; a new temporary directory when None.
        project_name: keras-tuner's project name.
        subset: train on only this many training samples (None: all).
        seed: seed of the tuner and of Keras.
        overwrite: start the project afresh (False resumes). Always False in a
            distributed search: removing the shared project would race the other processes.
        callbacks: Keras callbacks for every trial (keras-tuner deep-copies them).
        verbose: keras-tuner and Keras verbosity.
        **hypermodel_kwargs: ``NotesHyperModel`` arguments narrowing the space.

    Example:
        >>> result = search_digits(quick=True, tuner="random")  # doctest: +SKIP
        >>> 0.0 <= result.val_accuracy <= 1.0  # doctest: +SKIP
        True
    """
    from kerasnotes import datasets
    from kerasnotes._compat import keras_tuner_distribute as dist_utils

    if tuner not in _TUNERS:
        raise ValueError(f"tuner must be one of {list(_TUNERS)}; got tuner={tuner!r}")
    for name, value in (("max_trials", max_trials), ("epochs", epochs)):
        if not _is_int(value) or value < 1:
            raise ValueError(f"{name} must be an int >= 1; got {name}={value!r}")
    if subset is not None and (not _is_int(subset) or subset < 1):
        raise ValueError(f"subset must be None or an int >= 1; got subset={subset!r}")
    if quick:
        max_trials, epochs, subset = min(max_trials, 3), min(epochs, 2), subset or 600
    if dist_utils.has_chief_oracle():
        overwrite = False
    (x_train, y_train), (x_val, y_val) = datasets.load_digits(validation_fraction=0.2, seed=seed)
    if subset is not None:
        x_train, y_train = x_train[:subset], y_train[:subset]
    hypermodel_kwargs.setdefault("log_dir", None if logdir is None else os.fspath(logdir))
    hypermodel = NotesHyperModel(x_train.shape[1:], 10, **hypermodel_kwargs)
    directory = (
        tempfile.mkdtemp(prefix="kerasnotes-tuner-") if directory is None else os.fspath(directory)
    )
    keras.utils.set_random_seed(seed)
    common = dict(
        objective=keras_tuner.Objective("val_accuracy", direction="max"),
        directory=directory,
        project_name=project_name,
        overwrite=overwrite,
        seed=seed,
    )
    if tuner == "random":
        search = keras_tuner.RandomSearch(hypermodel, max_trials=max_trials, **common)
    elif tuner == "bayesian":
        search = keras_tuner.BayesianOptimization(
            hypermodel, max_trials=max_trials, num_initial_points=min(3, max_trials), **common
        )
    else:
        search = keras_tuner.Hyperband(
            hypermodel, max_epochs=max(epochs, 2), factor=3, hyperband_iterations=1, **common
        )
    start = time.perf_counter()
    search.search(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=epochs,
        callbacks=list(callbacks),
        verbose=verbose,
    )
    seconds = time.perf_counter() - start
    if dist_utils.has_chief_oracle() and not dist_utils.is_chief_oracle():
        # A worker: the chief may be gone already, so report what this process measured.
        trials = {
            trial_id: {
                "status": "COMPLETED",
                # keras-tuner's objective: each execution's best epoch, averaged.
                "score": float(np.mean([max(h.get("val_accuracy", [math.nan])) for h in runs])),
                "hyperparameters": {},
            }
            for trial_id, runs in hypermodel.histories.items()
        }
        best_id = max(trials, key=lambda t: trials[t]["score"]) if trials else None
        return SearchResult(
            best_hyperparameters={},
            val_accuracy=trials[best_id]["score"] if best_id else math.nan,
            trials=trials,
            directory=directory,
            seconds=seconds,
            tuner=search,
        )
    best = search.oracle.get_best_trials(1)
    return SearchResult(
        best_hyperparameters=_loggable(best[0].hyperparameters.values) if best else {},
        val_accuracy=float(best[0].score) if best and best[0].score is not None else math.nan,
        trials=_trials_table(search.oracle),
        directory=directory,
        seconds=seconds,
        tuner=search,
    )
