"""LandscapeLogger (F16): the product saddle's closed-form plane, exact projections, the log."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from _probe_callbacks import (
    COMMON_BAD_ARGUMENTS,
    check_config_round_trip,
    check_data_must_be_a_pair,
)

import kerasnotes as kn
from kerasnotes import summary
from kerasnotes.callbacks import LandscapeLogger
from kerasnotes.callbacks.landscape import flat_weights, project_on_plane

R2 = np.sqrt(0.5)


class _Recorder(keras.callbacks.Callback):
    """The flat weights at the end of every epoch, recorded apart from the logger."""

    def __init__(self) -> None:
        super().__init__()
        self.weights: list[np.ndarray] = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(flat_weights(self.model).astype(np.float64))


def _saddle(w1=0.0, w2=0.0, learning_rate=0.0):
    model, x, y, loss = kn.datasets.product_saddle(w1, w2)
    model.compile(keras.optimizers.SGD(learning_rate), loss)
    return model, x, y


def test_product_saddle_plane_is_the_closed_form():
    model, x, y = _saddle()
    logger = LandscapeLogger((x, y), span=1.0, num=21)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[logger])
    (entry,) = logger.history
    s = entry["landscape"]
    assert entry["epoch"] == 0 and "error" not in entry
    # H = [[0, −2], [−2, 0]]: λ = −2 along u = [1, 1]/√2, λ = +2 along [1, −1]/√2.
    np.testing.assert_allclose(s.eigenvalues, [-2.0, 2.0], atol=1e-5)
    np.testing.assert_allclose(s.directions, [[R2, R2], [R2, -R2]], atol=1e-6)
    a, b = np.meshgrid(s.a, s.b, indexing="ij")
    np.testing.assert_allclose(s.loss, (1 - (a**2 - b**2) / 2) ** 2, rtol=1e-5, atol=1e-6)
    # The slice along u through the centre: L(t) = (1 − t²/2)².
    np.testing.assert_allclose(s.loss[:, 10], (1 - s.a**2 / 2) ** 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s.loss[10, :], (1 + s.b**2 / 2) ** 2, rtol=1e-5, atol=1e-6)
    # The second-order model along each direction: curvature λ, slope 0 at the saddle.
    np.testing.assert_allclose(entry["curvature"], [-2.0, 2.0], atol=1e-5)
    np.testing.assert_allclose(entry["slope"], [0.0, 0.0], atol=1e-7)
    assert s.center_loss == pytest.approx(1.0)
    # lr = 0: the path stays at the centre, and is the initial point plus one epoch.
    np.testing.assert_allclose(entry["trajectory"], [[-1, 0, 0, 0], [0, 0, 0, 0]], atol=1e-7)


def test_trajectory_of_gradient_descent_is_projected_exactly():
    # Full-batch GD on (1 − w₁w₂)² from (0.5, 1.0): ∇L = −2(1 − w₁w₂)[w₂, w₁], one step an epoch.
    lr, epochs = 0.1, 5
    model, x, y = _saddle(0.5, 1.0, learning_rate=lr)
    logger = LandscapeLogger((x, y), span=0.5, num=5)
    model.fit(x, y, epochs=epochs, batch_size=1, verbose=0, callbacks=[logger])
    path = [np.array([0.5, 1.0])]
    for _ in range(epochs):
        w1, w2 = path[-1]
        path.append(path[-1] + 2 * lr * (1 - w1 * w2) * np.array([w2, w1]))
    path = np.array(path)
    (entry,) = logger.history
    assert entry["epoch"] == epochs - 1
    d = entry["landscape"].directions
    np.testing.assert_allclose(d.T @ d, np.eye(2), atol=1e-6)  # eigenvectors: orthonormal
    rows = entry["trajectory"]
    np.testing.assert_array_equal(rows[:, 0], np.arange(-1, epochs))
    # Two weights: the plane is the whole space, so (a, b) = Dᵀ(θ_e − θ) and nothing is off it.
    expected = (path - path[-1]) @ d
    np.testing.assert_allclose(rows[:, 1:3], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rows[:, 3], 0.0, atol=1e-6)
    np.testing.assert_allclose(rows[-1, 1:], 0.0, atol=1e-7)  # the logged point is the centre


def _regression():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(64, 3)) * np.array([0.5, 1.0, 2.0])).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]])).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False)])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    return model, x, y


def test_projection_on_a_plane_of_a_three_weight_model_and_the_distance_off_it():
    model, x, y = _regression()
    recorder = _Recorder()
    before = flat_weights(model).astype(np.float64)
    logger = LandscapeLogger((x, y), at=2, span=0.3, num=3)
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[recorder, logger])
    (entry,) = logger.history
    assert entry["epoch"] == 1  # "at=2" is Keras's "Epoch 2/3"
    # MSE on a linear model: H = 2XᵀX/N, its extreme eigenvectors up to sign.
    xd = x.astype(np.float64)
    values, vectors = np.linalg.eigh(2 * xd.T @ xd / len(x))
    s = entry["landscape"]
    np.testing.assert_allclose(s.eigenvalues, values[[0, -1]], rtol=1e-4)
    np.testing.assert_allclose(np.abs(s.directions.T @ vectors[:, [0, -1]]), np.eye(2), atol=1e-4)
    path = np.stack([before, *recorder.weights[:2]])  # the path up to the logged epoch
    delta = path - path[-1]
    coords = delta @ s.directions
    rows = entry["trajectory"]
    np.testing.assert_array_equal(rows[:, 0], [-1, 0, 1])
    np.testing.assert_allclose(rows[:, 1:3], coords, rtol=1e-6, atol=1e-9)
    # The middle eigenvector's component is what lies off the plane.
    np.testing.assert_allclose(rows[:, 3], np.abs(delta @ vectors[:, 1]), rtol=1e-4, atol=1e-9)
    # The surface is the MSE at the displaced weights.
    a, b = np.meshgrid(s.a, s.b, indexing="ij")
    w = (
        path[-1][None, None, :]
        + a[..., None] * s.directions[:, 0]
        + b[..., None] * s.directions[:, 1]
    )
    mse = np.mean((np.einsum("nk,ijk->ijn", xd, w) - y[:, 0].astype(np.float64)) ** 2, axis=-1)
    np.testing.assert_allclose(s.loss, mse, rtol=1e-5)


def test_project_on_plane_with_non_orthogonal_directions():
    directions = np.array([[1.0, 1.0], [0.0, 1.0], [0.0, 0.0]])
    points = np.array([[2.0, 3.0, 0.0], [1.0, 1.0, -2.0]])
    coords, off = project_on_plane(points, np.array([1.0, 1.0, 0.0]), directions)
    # θ_e − θ = [1, 2, 0] = −1·d₁ + 2·d₂ (in the plane); [0, 0, −2] is normal to it.
    np.testing.assert_allclose(coords, [[-1.0, 2.0], [0.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(off, [0.0, 2.0], atol=1e-12)


def test_at_lists_epochs_and_random_directions_carry_no_eigenvalues():
    model, x, y = _regression()
    logger = LandscapeLogger(
        (x, y), at=[1, 3, 9], directions="random", trajectory=False, span=0.5, num=3
    )
    recorder = _Recorder()
    model.fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=[recorder, logger])
    assert [e["epoch"] for e in logger.history] == [0, 2]  # epoch 9 never came
    for entry in logger.history:
        s = entry["landscape"]
        assert s.eigenvalues is None and entry["trajectory"] is None
        # Filter-normalised: each direction has the kernel's norm (one filter: the whole kernel).
        kernel_norm = np.linalg.norm(recorder.weights[entry["epoch"]])
        np.testing.assert_allclose(np.linalg.norm(s.directions, axis=0), kernel_norm, rtol=1e-5)
        assert s.loss.shape == (3, 3)


def test_events_are_readable_back(tmp_path, capsys):
    model, x, y = _saddle(0.5, 1.0, learning_rate=0.1)
    logger = LandscapeLogger((x, y), at=[1, 2], span=1.0, num=5, log_dir=tmp_path, verbose=1)
    model.fit(x, y, epochs=2, batch_size=1, verbose=0, callbacks=[logger])
    assert "Epoch 2: LandscapeLogger: 5×5 extreme plane" in capsys.readouterr().out
    summary.Writer.for_log_dir(tmp_path).flush()

    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer

    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(tmp_path))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(tmp_path))
    (run,) = provider.read_tensors(
        context.RequestContext(), experiment_id="", plugin_name="kerasnotes", downsample=100
    ).values()
    for tag in (
        summary.TAG_LANDSCAPE_SURFACE,
        summary.TAG_LANDSCAPE_DIRECTIONS,
        summary.TAG_LANDSCAPE_TRAJECTORY,
        summary.TAG_LANDSCAPE_INFO,
    ):
        assert [d.step for d in run[tag]] == [0, 1], tag
    for k, entry in enumerate(logger.history):
        s = entry["landscape"]
        np.testing.assert_array_equal(run[summary.TAG_LANDSCAPE_SURFACE][k].numpy, s.loss)
        rows = run[summary.TAG_LANDSCAPE_DIRECTIONS][k].numpy
        assert rows.shape == (2, len(summary.LANDSCAPE_DIRECTION_FIELDS))
        fields = {name: rows[:, i] for i, name in enumerate(summary.LANDSCAPE_DIRECTION_FIELDS)}
        np.testing.assert_array_equal(fields["eigenvalue"], s.eigenvalues)
        np.testing.assert_array_equal(fields["curvature"], entry["curvature"])
        np.testing.assert_array_equal(fields["slope"], entry["slope"])
        np.testing.assert_allclose(fields["norm"], [1.0, 1.0], rtol=1e-12)
        trajectory = run[summary.TAG_LANDSCAPE_TRAJECTORY][k].numpy
        np.testing.assert_array_equal(trajectory, entry["trajectory"])
        assert trajectory[:, 0].tolist() == list(range(-1, k + 1))
        info = dict(
            zip(
                summary.LANDSCAPE_INFO_FIELDS,
                run[summary.TAG_LANDSCAPE_INFO][k].numpy.tolist(),
                strict=True,
            )
        )
        assert info["span"] == 1.0 and info["num"] == 5 and info["num_parameters"] == 2
        assert info["directions_code"] == summary.LANDSCAPE_DIRECTION_CODES["extreme"]
        assert info["center_loss"] == s.center_loss and info["num_hvp"] == s.num_hvp + 2


def test_a_failed_landscape_warns_and_training_goes_on():
    model, x, y = _regression()
    bad = x.copy()
    bad[0, 0] = np.nan
    logger = LandscapeLogger((bad, y), at=1, num=3)
    with pytest.warns(UserWarning, match="LandscapeLogger: the landscape at epoch 1 failed"):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[logger])
    (entry,) = logger.history
    assert entry["landscape"] is None and "error" in entry


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        (dict(at="start"), ValueError, "at='start'"),
        (dict(at=0), ValueError, "at=0"),
        (dict(at=[2, -1]), ValueError, r"at=\[2, -1\]"),
        (dict(at=[]), TypeError, r"at=\[\]"),
        (dict(at=1.5), TypeError, "at=1.5"),
        (dict(directions="pca"), ValueError, "directions='pca'"),
        (dict(trajectory=1), TypeError, "trajectory=1"),
        (dict(span=0.0), ValueError, "span=0.0"),
        (dict(num=2), ValueError, "num=2"),
        (dict(num=20), ValueError, "num=20"),
        (dict(num=21.0), TypeError, "num=21.0"),
        (dict(normalize="l2"), ValueError, "normalize='l2'"),
    ]
    + COMMON_BAD_ARGUMENTS,
)
def test_arguments_are_checked(kwargs, error, text):
    _, x, y = _regression()
    with pytest.raises(error, match=f"Argument `.*Received: .*{text}"):
        LandscapeLogger((x, y), **kwargs)


def test_data_must_be_a_pair():
    _, x, _ = _regression()
    check_data_must_be_a_pair(LandscapeLogger, x)


def test_config_round_trip(tmp_path):
    _, x, y = _regression()
    logger = LandscapeLogger(
        (x, y),
        at=[3, 1],
        directions="random",
        trajectory=False,
        span=2.0,
        num=7,
        log_dir=tmp_path,
        normalize="unit",
        num_samples=40,
        seed=3,
        loss="mse",
    )
    config = check_config_round_trip(logger)
    assert config["at"] == [1, 3]
