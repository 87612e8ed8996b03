"""The TensorBoard data layout every kerasnotes callback writes: tag names and tensor fields.

The one statement of the layout, a contract between writers and readers:
``kerasnotes.summary.Writer`` writes it for the callbacks, and
``kerasnotes.tensorboard_plugins`` imports these constants instead of repeating
the strings. The trial runs of ``kerasnotes.tuning`` add the ``epoch_<metric>``
scalars that the HParams dashboard compares (``TRIAL_METRIC_TAGS``).

Scalars, plugin ``"scalars"``, data class SCALAR, float32 (the stock Scalars
dashboard shows them; read with ``data_provider.read_scalars(plugin_name="scalars")``):

==========================================================  ===================================
tag                                                         step, writer
==========================================================  ===================================
``kerasnotes/curvature/grad_norm``                          epoch; SaddlePointDetector, every probe
``kerasnotes/curvature/lambda_min`` / ``lambda_max`` /      epoch; SaddlePointDetector, only when
``minimum_ratio`` / ``minimum_ratio_stderr``                a full Hessian analysis ran
``kerasnotes/learning_rate``                                epoch (``per="epoch"``) or global
                                                            step (``per="step"``); LearningRateDecay
``kerasnotes/early_stopping/monitor``                       epoch; EarlyStopping (the monitor's
                                                            name is the display name)
``kerasnotes/optimizer/effective_lr_mean/<variable path>``  epoch; OptimizerInspector
``kerasnotes/optimizer/update_ratio/<variable path>``       epoch; OptimizerInspector,
                                                            mean |update| / mean |weight|
``kerasnotes/sharpness/value`` / ``threshold`` /            epoch; SharpnessMonitor (F17): λmax(H)
``num_hvp``                                                 or λmax(P^½HP^½), its stability limit,
                                                            the HVPs the measurement spent
==========================================================  ===================================

Histograms, plugin ``"histograms"`` (stock Histograms and Distributions
dashboards), a float64 tensor of shape (k, 3), rows ``[left, right, count]``:

- ``kerasnotes/optimizer/effective_lr/<variable path>``: step = epoch; OptimizerInspector.

Tensors, plugin ``"kerasnotes"``, data class TENSOR, float64 (read with
``data_provider.read_tensors(plugin_name="kerasnotes")``):

- ``kerasnotes/critical_point``: shape (10,), the fields ``CRITICAL_POINT_FIELDS``
  ``[kind_code, grad_norm, lambda_min, lambda_max, minimum_ratio, escaped,
  loss_before, loss_after, num_hvp, seconds]``, step = epoch. ``kind_code`` is
  ``KIND_CODES[kind]``: 0 not_critical, 1 local_minimum, 2 local_maximum,
  3 saddle, 4 flat (and 5 error: the probe failed, see the text log). Values not
  measured are NaN (``lambda_*`` when only the gradient gate ran,
  ``loss_before``/``loss_after`` when no escape was tried); ``escaped`` is 0 or 1.
- ``kerasnotes/spectral_density``: shape (2, G), row 0 the eigenvalue grid, row 1
  the density on it (integrates to 1), step = epoch; SaddlePointDetector(density=True).
  The curve is Gaussian-smoothed (σ in ``spectral_masses``): read no mass off it.
- ``kerasnotes/spectral_masses``: shape (10,), ``SPECTRAL_MASSES_FIELDS``
  ``[negative_fraction, zero_fraction, positive_fraction, negative_fraction_stderr,
  zero_fraction_stderr, positive_fraction_stderr, threshold, sigma, num_runs,
  num_steps]``, the shares of eigenvalues below −τ, within ±τ and above τ counted
  from the SLQ quadrature (``HessianProbe.spectral_density``), step = epoch;
  written beside every ``spectral_density``.
- ``kerasnotes/layer_curvature``: shape (L, 6), one row per layer with trainable
  weights (``HessianProbe.layer_curvature``, F18), the fields
  ``LAYER_CURVATURE_FIELDS`` ``[num_parameters, lambda_max, trace, trace_stderr,
  num_hvp, seconds]``: λmax and trace of the layer's diagonal Hessian block, the
  trace's standard error (0 when exact), the HVPs spent on the block, and the
  seconds the whole table took (the same in every row), step = epoch;
  SaddlePointDetector(layer_curvature=True), at every full analysis.
- ``kerasnotes/layer_curvature/names``: shape (L,), UTF-8 strings (``Writer.strings``),
  the layer names of the rows of ``kerasnotes/layer_curvature`` at the same step.
- ``kerasnotes/early_stopping/event``: shape (3,), ``EARLY_STOPPING_FIELDS``
  ``[best_epoch, best_value, stopped_epoch]`` (``stopped_epoch`` = -1 when training
  ran to the end), step = the last epoch; written at train end.
- ``kerasnotes/landscape/surface``: shape (num, num), the loss on the plane
  through the weights ``loss[i, j] = L(θ + a_i d₁ + b_j d₂)`` with
  ``a_i = b_i = −span + 2·span·i/(num − 1)`` (F16), NaN where not finite,
  step = the epoch whose end weights θ are the plane's centre; LandscapeLogger.
- ``kerasnotes/landscape/directions``: shape (2, 4), one row per direction
  ``d₁, d₂``, the fields ``LANDSCAPE_DIRECTION_FIELDS`` ``[eigenvalue,
  curvature, slope, norm]``: the eigenvalue λ of the direction
  (``directions="extreme"``: λmin, λmax; NaN for random directions), the
  curvature ``dᵀHd/‖d‖²``, the slope ``∇Lᵀd/‖d‖`` and ``‖d‖``, so the
  second-order model along a slice is ``L(θ) + slope·‖d‖·t + ½·curvature·‖d‖²·t²``
  (``½λt²`` for a unit eigenvector at a critical point); same step.
- ``kerasnotes/landscape/trajectory``: shape (T, 4), rows
  ``LANDSCAPE_TRAJECTORY_FIELDS`` ``[step, a, b, off_plane]``: the weights
  recorded before training (step −1) and at the end of each epoch up to the
  logged one, projected on the plane by least squares relative to its centre
  (``θ_e − θ ≈ a d₁ + b d₂``), ``off_plane`` = the distance left
  ``‖θ_e − θ − a d₁ − b d₂‖``; same step; only with ``trajectory=True``.
- ``kerasnotes/landscape/info``: shape (7,), ``LANDSCAPE_INFO_FIELDS``
  ``[span, num, center_loss, directions_code, num_hvp, num_parameters,
  seconds]``, ``directions_code`` = ``LANDSCAPE_DIRECTION_CODES[directions]``
  (0 extreme, 1 random); same step. Written last of the four, so a reader
  that finds it finds the others of that step.

Text, plugin ``"text"``:

- ``kerasnotes/run_info``: a markdown description of the run (model, optimizer
  config), written once at train begin by a kerasnotes callback with a ``log_dir``.

Example:
    >>> import tempfile
    >>> from kerasnotes.summary import Writer, layout
    >>> writer = Writer.for_log_dir(tempfile.mkdtemp())
    >>> writer.scalar(layout.TAG_LEARNING_RATE, 0.01, step=0)
    >>> values = [3, 0.0, -2, 2, 0.5, 1, 1, 0.2, 40, 0.1]
    >>> dict(zip(layout.CRITICAL_POINT_FIELDS, values))["kind_code"] == layout.KIND_CODES["saddle"]
    True
    >>> writer.tensor(layout.TAG_CRITICAL_POINT, values, step=0)
    >>> writer.flush()
"""

from __future__ import annotations

__all__ = [
    "CRITICAL_POINT_FIELDS",
    "EARLY_STOPPING_FIELDS",
    "KIND_CODES",
    "KIND_NAMES",
    "LANDSCAPE_DIRECTION_CODES",
    "LANDSCAPE_DIRECTION_FIELDS",
    "LANDSCAPE_INFO_FIELDS",
    "LANDSCAPE_TRAJECTORY_FIELDS",
    "LAYER_CURVATURE_FIELDS",
    "PLUGIN_NAME",
    "TAG_CRITICAL_POINT",
    "TAG_EARLY_STOPPING_EVENT",
    "TAG_EARLY_STOPPING_MONITOR",
    "TAG_GRAD_NORM",
    "TAG_LAMBDA_MAX",
    "TAG_LAMBDA_MIN",
    "TAG_LANDSCAPE_DIRECTIONS",
    "TAG_LANDSCAPE_INFO",
    "TAG_LANDSCAPE_SURFACE",
    "TAG_LANDSCAPE_TRAJECTORY",
    "TAG_LAYER_CURVATURE",
    "TAG_LAYER_NAMES",
    "TAG_LEARNING_RATE",
    "TAG_MINIMUM_RATIO",
    "TAG_MINIMUM_RATIO_STDERR",
    "TAG_PREFIX",
    "TAG_RUN_INFO",
    "TAG_SHARPNESS",
    "TAG_SHARPNESS_NUM_HVP",
    "TAG_SHARPNESS_THRESHOLD",
    "TAG_SPECTRAL_DENSITY",
    "TAG_SPECTRAL_MASSES",
    "SPECTRAL_MASSES_FIELDS",
    "effective_lr_histogram_tag",
    "effective_lr_mean_tag",
    "update_ratio_tag",
    "TRIAL_METRIC_TAGS",
    "TAG_EFFECTIVE_LR_PREFIX",
    "TAG_EFFECTIVE_LR_MEAN_PREFIX",
    "TAG_UPDATE_RATIO_PREFIX",
    "TRIAL_SCALAR_PREFIX",
]

#: Plugin name of the kerasnotes tensors (and of the TensorBoard plugin).
PLUGIN_NAME = "kerasnotes"
#: Every kerasnotes tag starts with this; the plugin ignores other scalars of a run.
TAG_PREFIX = "kerasnotes/"

# Scalars (plugin "scalars").
TAG_GRAD_NORM = "kerasnotes/curvature/grad_norm"
TAG_LAMBDA_MIN = "kerasnotes/curvature/lambda_min"
TAG_LAMBDA_MAX = "kerasnotes/curvature/lambda_max"
TAG_MINIMUM_RATIO = "kerasnotes/curvature/minimum_ratio"
TAG_MINIMUM_RATIO_STDERR = "kerasnotes/curvature/minimum_ratio_stderr"
TAG_LEARNING_RATE = "kerasnotes/learning_rate"
TAG_EARLY_STOPPING_MONITOR = "kerasnotes/early_stopping/monitor"
TAG_EFFECTIVE_LR_MEAN_PREFIX = "kerasnotes/optimizer/effective_lr_mean/"
TAG_UPDATE_RATIO_PREFIX = "kerasnotes/optimizer/update_ratio/"
TAG_SHARPNESS = "kerasnotes/sharpness/value"
TAG_SHARPNESS_THRESHOLD = "kerasnotes/sharpness/threshold"
TAG_SHARPNESS_NUM_HVP = "kerasnotes/sharpness/num_hvp"

# Histograms (plugin "histograms").
TAG_EFFECTIVE_LR_PREFIX = "kerasnotes/optimizer/effective_lr/"

# Tensors (plugin "kerasnotes").
TAG_CRITICAL_POINT = "kerasnotes/critical_point"
TAG_SPECTRAL_DENSITY = "kerasnotes/spectral_density"
TAG_SPECTRAL_MASSES = "kerasnotes/spectral_masses"
TAG_EARLY_STOPPING_EVENT = "kerasnotes/early_stopping/event"
TAG_LANDSCAPE_SURFACE = "kerasnotes/landscape/surface"
TAG_LANDSCAPE_DIRECTIONS = "kerasnotes/landscape/directions"
TAG_LANDSCAPE_TRAJECTORY = "kerasnotes/landscape/trajectory"
TAG_LANDSCAPE_INFO = "kerasnotes/landscape/info"
TAG_LAYER_CURVATURE = "kerasnotes/layer_curvature"
TAG_LAYER_NAMES = "kerasnotes/layer_curvature/names"

# Text (plugin "text").
TAG_RUN_INFO = "kerasnotes/run_info"

#: Order of the values in a ``kerasnotes/critical_point`` tensor.
CRITICAL_POINT_FIELDS = (
    "kind_code",
    "grad_norm",
    "lambda_min",
    "lambda_max",
    "minimum_ratio",
    "escaped",
    "loss_before",
    "loss_after",
    "num_hvp",
    "seconds",
)
#: Order of the values in a ``kerasnotes/spectral_masses`` tensor (``Density`` fields).
SPECTRAL_MASSES_FIELDS = (
    "negative_fraction",
    "zero_fraction",
    "positive_fraction",
    "negative_fraction_stderr",
    "zero_fraction_stderr",
    "positive_fraction_stderr",
    "threshold",
    "sigma",
    "num_runs",
    "num_steps",
)
#: Order of the columns of a ``kerasnotes/layer_curvature`` row (one row per layer).
LAYER_CURVATURE_FIELDS = (
    "num_parameters",
    "lambda_max",
    "trace",
    "trace_stderr",
    "num_hvp",
    "seconds",
)
#: Kind of a critical point -> the code stored in ``kerasnotes/critical_point``.
#: "error" marks a probe that raised (training went on; the message is in the log).
KIND_CODES = {
    "not_critical": 0,
    "local_minimum": 1,
    "local_maximum": 2,
    "saddle": 3,
    "flat": 4,
    "error": 5,
}
#: Code -> kind, the inverse of ``KIND_CODES``.
KIND_NAMES = {code: kind for kind, code in KIND_CODES.items()}
#: Order of the values in a ``kerasnotes/early_stopping/event`` tensor.
EARLY_STOPPING_FIELDS = ("best_epoch", "best_value", "stopped_epoch")

#: Order of the values in each row of a ``kerasnotes/landscape/directions`` tensor.
LANDSCAPE_DIRECTION_FIELDS = ("eigenvalue", "curvature", "slope", "norm")
#: Order of the values in each row of a ``kerasnotes/landscape/trajectory`` tensor.
LANDSCAPE_TRAJECTORY_FIELDS = ("step", "a", "b", "off_plane")
#: Order of the values in a ``kerasnotes/landscape/info`` tensor.
LANDSCAPE_INFO_FIELDS = (
    "span",
    "num",
    "center_loss",
    "directions_code",
    "num_hvp",
    "num_parameters",
    "seconds",
)
#: ``LandscapeLogger``'s ``directions`` -> the code stored in ``kerasnotes/landscape/info``.
LANDSCAPE_DIRECTION_CODES = {"extreme": 0, "random": 1}

#: Scalars of a keras-tuner trial's run (``NotesHyperModel.fit`` with a ``log_dir``): each
#: epoch's Keras log ``<metric>`` as ``epoch_<metric>`` (step = epoch), as
#: ``keras.callbacks.TensorBoard`` names them; the HParams dashboard compares these.
TRIAL_METRIC_TAGS = ("epoch_loss", "epoch_accuracy", "epoch_val_loss", "epoch_val_accuracy")
#: Prefix of a trial's per-epoch scalars: ``epoch_<key of the Keras logs>``.
TRIAL_SCALAR_PREFIX = "epoch_"


def effective_lr_histogram_tag(variable_path: str) -> str:
    """Histogram tag of a variable's per-element effective learning rate."""
    return TAG_EFFECTIVE_LR_PREFIX + variable_path


def effective_lr_mean_tag(variable_path: str) -> str:
    """Scalar tag of the mean effective learning rate of a variable."""
    return TAG_EFFECTIVE_LR_MEAN_PREFIX + variable_path


def update_ratio_tag(variable_path: str) -> str:
    """Scalar tag of mean |update| / mean |weight| of a variable."""
    return TAG_UPDATE_RATIO_PREFIX + variable_path
