"""HParams dashboard records: the experiment, each session's start and end, without TensorFlow.

TensorBoard's HParams plugin reads three kinds of ``Summary`` from the event
files (each one value with tag ``_hparams_/<kind>``, plugin ``"hparams"``, a
null tensor, and an ``HParamsPluginData`` message as plugin content):

```
_hparams_/experiment          Experiment{hparam_infos [name, type, domain], metric_infos [tag]}
_hparams_/session_start_info  SessionStartInfo{hparams {name: value}, group_name, start_time_secs}
_hparams_/session_end_info    SessionEndInfo{status, end_time_secs}
```

The experiment and the session start are built by the ``tensorboard``
package's own ``tensorboard.plugins.hparams.summary_v2.hparams_config_pb`` and
``hparams_pb`` (they build protos only; TensorFlow is touched only by the
functions that write through ``tf.summary``). The session end has no such
helper outside the TF1 module ``tensorboard.plugins.hparams.summary``, which
imports TensorFlow, so it is built here from the plugin's ``metadata`` helpers.

Example:
    >>> from kerasnotes.summary import hparams
    >>> hparams.hparams_session_end_summary(True).value[0].tag
    '_hparams_/session_end_info'
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from tensorboard.plugins.hparams import summary_v2

from kerasnotes import _validation
from kerasnotes.summary.layout import TRIAL_METRIC_TAGS

if TYPE_CHECKING:
    import keras_tuner
    from tensorboard.compat.proto.summary_pb2 import Summary

__all__ = [
    "TUNER_PREFIX",
    "hparams_experiment_summary",
    "hparams_session_end_summary",
    "hparams_session_start_summary",
    "loggable",
]

#: keras-tuner's Hyperband bookkeeping values ("tuner/epochs", ...) are not
#: hyperparameters of the model; they stay out of the HParams dashboard.
TUNER_PREFIX = "tuner/"


def loggable(values: dict[str, Any]) -> dict[str, Any]:
    """The active hyperparameter values the HParams dashboard can show.

    ```
    {name: value for name, value in values if not name.startswith("tuner/")
                                            and value is a bool, int, float or str}
    ```

    ``None`` (an inactive conditional hyperparameter) is left out, numpy scalars
    become Python ones.

    Args:
        values: hyperparameter name -> value (``HyperParameters.values``).

    Example:
        >>> import numpy as np
        >>> loggable({"width": np.int64(32), "momentum": None, "tuner/epochs": 2})
        {'width': 32}
    """
    out = {}
    for name, value in values.items():
        if name.startswith(TUNER_PREFIX) or value is None:
            continue
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, (bool, int, float, str)):
            out[name] = value
    return out


class _ChoiceDomain(summary_v2.Domain):
    """A discrete domain in keras-tuner's order, numbers written as floats (type FLOAT64).

    ``summary_v2.Discrete`` sorts its values; the dashboard lists a choice's
    values in the order they are written, and the search's order (the first
    choice is keras-tuner's default) is the one to show.
    """

    def __init__(self, values: Sequence[Any]) -> None:
        self._values = list(values)
        if all(isinstance(v, bool) for v in self._values):
            self._dtype = bool
        elif all(isinstance(v, str) for v in self._values):
            self._dtype = str
        else:
            self._dtype = float
            self._values = [float(v) for v in self._values]

    @property
    def dtype(self) -> type:
        return self._dtype

    @property
    def values(self) -> list[Any]:
        return list(self._values)

    def sample_uniform(self, rng: Any = random) -> Any:
        return rng.choice(self._values)

    def update_hparam_info(self, hparam_info: Any) -> None:
        from tensorboard.plugins.hparams import api_pb2

        hparam_info.type = {
            bool: api_pb2.DATA_TYPE_BOOL,
            str: api_pb2.DATA_TYPE_STRING,
            float: api_pb2.DATA_TYPE_FLOAT64,
        }[self._dtype]
        hparam_info.ClearField("domain_discrete")
        hparam_info.domain_discrete.extend(self._values)


def _hparam(hyperparameter: Any) -> summary_v2.HParam:
    """keras-tuner hyperparameter -> ``summary_v2.HParam`` (its domain included)."""
    import keras_tuner

    hp_types = keras_tuner.engine.hyperparameters
    name = hyperparameter.name
    if isinstance(hyperparameter, (hp_types.Float, hp_types.Int)):
        # Both as a float64 interval, which is what TensorBoard stores for ints too.
        low, high = float(hyperparameter.min_value), float(hyperparameter.max_value)
        return summary_v2.HParam(name, summary_v2.RealInterval(low, high))
    if isinstance(hyperparameter, hp_types.Boolean):
        return summary_v2.HParam(name, _ChoiceDomain([False, True]))
    if isinstance(hyperparameter, hp_types.Choice):
        return summary_v2.HParam(name, _ChoiceDomain(hyperparameter.values))
    if isinstance(hyperparameter, hp_types.Fixed):
        return summary_v2.HParam(name, _ChoiceDomain([hyperparameter.value]))
    return summary_v2.HParam(name)


def hparams_experiment_summary(
    hyperparameters: keras_tuner.HyperParameters,
    metrics: Sequence[str] = TRIAL_METRIC_TAGS,
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
    takes keras-tuner's space directly (and builds the proto with it).

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
    seen: dict[str, Any] = {}
    conditional: set[str] = set()
    for hyperparameter in hyperparameters.space:
        if not hyperparameter.name.startswith(TUNER_PREFIX):
            seen.setdefault(hyperparameter.name, _hparam(hyperparameter))
            if getattr(hyperparameter, "conditions", None):
                conditional.add(hyperparameter.name)
    # The dashboard selects its first columns by default, and a trial is drawn in the
    # parallel-coordinates view only if it has a value in every selected column: the
    # hyperparameters every trial has (optimizer, learning rate, ...) come first, in the
    # space's order, and the conditional ones (beta_1, decay_drop, ...) after them.
    ordered = sorted(seen, key=lambda name: name in conditional)
    return summary_v2.hparams_config_pb(
        hparams=[seen[name] for name in ordered],
        metrics=[summary_v2.Metric(tag) for tag in metrics],
        time_created_secs=time.time() if time_created_secs is None else time_created_secs,
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
    checked: dict[str, Any] = {}
    for name in sorted(values):
        value = values[name]
        if isinstance(value, np.generic):
            value = value.item()
        if value is None:
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value)  # the proto's number_value is a double
        elif not isinstance(value, (bool, str)):
            raise TypeError(
                _validation.message(f"values[{name!r}]", value, "a bool, number or str")
            )
        checked[name] = value
    return summary_v2.hparams_pb(
        checked,
        trial_id=str(group_name),
        start_time_secs=time.time() if start_time_secs is None else start_time_secs,
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
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    info = plugin_data_pb2.SessionEndInfo(
        status=api_pb2.STATUS_SUCCESS if success else api_pb2.STATUS_FAILURE,
        end_time_secs=time.time() if end_time_secs is None else end_time_secs,
    )
    summary = summary_pb2.Summary()
    summary.value.add(
        tag=metadata.SESSION_END_INFO_TAG,
        metadata=metadata.create_summary_metadata(
            plugin_data_pb2.HParamsPluginData(session_end_info=info)
        ),
        tensor=metadata.NULL_TENSOR,
    )
    return summary
