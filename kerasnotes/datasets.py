"""Offline data for the notes' experiments: scikit-learn's bundled sets and synthetic landscapes.

Nothing here touches the network. Each loader returns float32 features,
standardised with the training split's mean and standard deviation (so the
validation split never leaks into the scaling), and integer labels.

Example:
    >>> from kerasnotes import datasets
    >>> (x_train, y_train), (x_val, y_val) = datasets.load_digits(validation_fraction=0.2)
    >>> x_train.shape[1], int(y_train.max()) + 1
    (64, 10)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from kerasnotes import _compat, _validation

Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _split_and_scale(
    features: np.ndarray, labels: np.ndarray, validation_fraction: float, seed: int
) -> Split:
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(
            _validation.message("validation_fraction", validation_fraction, "a number in [0, 1)")
        )
    order = np.random.default_rng(seed).permutation(len(features))
    num_val = int(round(validation_fraction * len(features)))
    val_idx, train_idx = order[:num_val], order[num_val:]
    x_train = features[train_idx].astype(np.float64)
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0] = 1.0  # constant pixels (digits' borders) stay at zero instead of NaN

    def scale(x: np.ndarray) -> np.ndarray:
        return ((x - mean) / std).astype(np.float32)

    return (
        (scale(features[train_idx]), labels[train_idx].astype(np.int32)),
        (scale(features[val_idx]), labels[val_idx].astype(np.int32)),
    )


def _load(loader: Callable, validation_fraction: float, seed: int) -> Split:
    bunch = loader()
    return _split_and_scale(
        np.asarray(bunch.data), np.asarray(bunch.target), validation_fraction, seed
    )


def load_digits(validation_fraction: float = 0.2, seed: int = 0) -> Split:
    """8x8 handwritten digits (1,797 images, 64 pixels, 10 classes).

    Args:
        validation_fraction: share of the samples held out for validation, in [0, 1).
        seed: seed of the shuffle that picks the validation samples.

    Returns:
        ``((x_train, y_train), (x_val, y_val))``, features standardised per pixel.
    """
    from sklearn.datasets import load_digits as _digits

    return _load(_digits, validation_fraction, seed)


def load_breast_cancer(validation_fraction: float = 0.2, seed: int = 0) -> Split:
    """Wisconsin breast cancer (569 samples, 30 features, 2 classes).

    Args:
        validation_fraction: share of the samples held out for validation, in [0, 1).
        seed: seed of the shuffle that picks the validation samples.
    """
    from sklearn.datasets import load_breast_cancer as _cancer

    return _load(_cancer, validation_fraction, seed)


def load_iris(validation_fraction: float = 0.2, seed: int = 0) -> Split:
    """Iris (150 samples, 4 features, 3 classes).

    Args:
        validation_fraction: share of the samples held out for validation, in [0, 1).
        seed: seed of the shuffle that picks the validation samples.
    """
    from sklearn.datasets import load_iris as _iris

    return _load(_iris, validation_fraction, seed)


# ---------------------------------------------------------------------------
# Synthetic landscapes: Keras models whose loss surface is known in closed form
# ---------------------------------------------------------------------------


class Landscape(NamedTuple):
    """A model, its data and its loss; unpacks as ``model, x, y, loss``.

    ``loss(y, model(x))`` is the closed form stated by the function that built it,
    so optimizers, callbacks and curvature probes can be checked against exact numbers.
    """

    model: Any
    x: np.ndarray
    y: np.ndarray
    loss: Any


def _linear_layer(keras: Any, units: int, kernel: np.ndarray, name: str) -> Any:
    # A bias-free Dense layer whose kernel starts at an exact, given matrix.
    return keras.layers.Dense(
        units,
        use_bias=False,
        kernel_initializer=keras.initializers.Constant(kernel),
        name=name,
    )


def product_saddle(w1: float = 0.0, w2: float = 0.0) -> Landscape:
    """The two-weight landscape L(w1, w2) = (1 - w1·w2)², whose origin is a saddle.

    ```
    L(w1, w2) = (1 − w1·w2)²
    ∇L        = −2(1 − w1·w2) · [w2, w1]
    H         = [[2w2²,            4w1·w2 − 2],
                 [4w1·w2 − 2,      2w1²      ]]
    at (0, 0): ∇L = 0, H = [[0, −2], [−2, 0]], eigenvalues λ = ±2,
               λ = −2 has eigenvector u ∝ [1, 1]: θ ← θ + ηu lowers L
    minima: the hyperbola w1·w2 = 1 (L = 0)
    ```

    The model is two bias-free ``Dense(1)`` layers in sequence (``y_pred = w2·w1·x``)
    fitted with mean squared error to the single pair x = 1, y = 1, so the Keras loss
    is exactly the formula above. ``model.trainable_variables`` is ``[w1, w2]``
    (each a 1×1 kernel).

    Args:
        w1: starting value of the first weight.
        w2: starting value of the second weight.

    Returns:
        ``Landscape(model, x, y, loss)``: a built, uncompiled
        ``keras.Sequential``, ``x = [[1]]``, ``y = [[1]]`` (float32) and
        ``keras.losses.MeanSquaredError()``.

    Example:
        >>> import keras
        >>> from kerasnotes import datasets
        >>> model, x, y, loss = datasets.product_saddle(w1=0.5, w2=1.0)
        >>> round(float(keras.ops.convert_to_numpy(loss(y, model(x)))), 6)  # (1 - 0.5)²
        0.25
    """
    import keras

    w1 = _validation.real_number("w1", w1)
    w2 = _validation.real_number("w2", w2)
    model = keras.Sequential(
        [
            keras.Input(shape=(1,)),
            _linear_layer(keras, 1, np.array([[w1]]), "w1"),
            _linear_layer(keras, 1, np.array([[w2]]), "w2"),
        ],
        name="product_saddle",
    )
    x = np.ones((1, 1), dtype=np.float32)
    y = np.ones((1, 1), dtype=np.float32)
    return Landscape(model, x, y, keras.losses.MeanSquaredError())


def quadratic_eigenvalues(condition_number: float = 100.0, dim: int = 2) -> np.ndarray:
    """Eigenvalues of :func:`ill_conditioned_quadratic`'s A, from 1 up to the condition number.

    ```
    λ_i = κ^(i / (dim − 1)),  i = 0 … dim − 1   (λ_0 = 1, λ_{dim−1} = κ; dim = 1: λ = [1])
    ```

    Args:
        condition_number: κ = λ_max / λ_min, at least 1.
        dim: number of weights, at least 1.

    Example:
        >>> from kerasnotes import datasets
        >>> datasets.quadratic_eigenvalues(100.0, dim=3).tolist()
        [1.0, 10.0, 100.0]
    """
    expected = "a finite number >= 1 (it is λ_max / λ_min)"
    kappa = _validation.real_number("condition_number", condition_number, expected=expected)
    if kappa < 1.0:
        raise ValueError(_validation.message("condition_number", condition_number, expected))
    dim = _validation.positive_int("dim", dim)
    if dim == 1:
        return np.ones(1)
    return kappa ** (np.arange(dim) / (dim - 1))


def ill_conditioned_quadratic(
    condition_number: float = 100.0,
    dim: int = 2,
    start: Sequence[float] | np.ndarray | None = None,
    rotate: bool = False,
    seed: int = 0,
) -> Landscape:
    """The quadratic bowl L(w) = ½ wᵀAw, whose curvature differs by κ between directions.

    ```
    L(w) = ½ wᵀAw,   ∇L = Aw,   H = A,   minimum L = 0 at w = 0
    A = Q diag(λ) Qᵀ,  λ_i = κ^(i/(dim−1)), i = 0 … dim−1   (so λ_min = 1, λ_max = κ)
    Q = I, or a random orthogonal matrix drawn from `seed` when rotate=True
    gradient descent θ ← θ − α∇L converges only for α < 2/λ_max = 2/κ, and then
    shrinks the flattest direction by (1 − α) per step: about κ steps per e-fold
    ```

    Gradient descent must use a step small enough for the steep direction (λ = κ) and
    then crawls along the flat one (λ = 1); momentum accumulates the consistent flat
    component, which is claim C4 of the notes.

    The model is one bias-free ``Dense(1)`` on ``dim`` inputs (its kernel is w),
    fitted with mean squared error to y = 0 on the ``dim`` rows of X = √(dim/2)·A^½,
    so mean((Xw)²) = wᵀ(XᵀX/dim)w = ½ wᵀAw exactly.

    Args:
        condition_number: κ = λ_max / λ_min of A, at least 1.
        dim: number of weights, at least 1.
        start: initial w (length ``dim``); default all ones.
        rotate: turn the eigenvectors away from the axes by a random orthogonal Q.
        seed: seed of Q (used only when ``rotate`` is true).

    Returns:
        ``Landscape(model, x, y, loss)`` with x of shape (dim, dim), y zeros (dim, 1),
        float32, and ``keras.losses.MeanSquaredError()``. A itself is
        ``2 * x.T @ x / dim`` (float64 from :func:`quadratic_eigenvalues` before the cast).

    Example:
        >>> import keras
        >>> from kerasnotes import datasets
        >>> model, x, y, loss = datasets.ill_conditioned_quadratic(100.0, start=[1.0, 1.0])
        >>> round(float(keras.ops.convert_to_numpy(loss(y, model(x)))), 3)  # ½(1·1² + 100·1²)
        50.5
    """
    import keras

    eigenvalues = quadratic_eigenvalues(condition_number, dim)
    dim = len(eigenvalues)
    if start is None:
        w0 = np.ones(dim)
    else:
        w0 = np.asarray(start, dtype=np.float64).reshape(-1)
        if w0.shape != (dim,) or not np.all(np.isfinite(w0)):
            raise ValueError(
                _validation.message(
                    "start", start, f"{dim} finite numbers (one per weight, dim={dim})"
                )
            )
    if rotate:
        # QR of a Gaussian matrix, signs fixed by R's diagonal: a uniformly random rotation.
        q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, dim)))
        basis = q * np.sign(np.diag(r))
    else:
        basis = np.eye(dim)
    sqrt_a = basis @ np.diag(np.sqrt(eigenvalues)) @ basis.T
    x = (np.sqrt(dim / 2.0) * sqrt_a).astype(np.float32)
    y = np.zeros((dim, 1), dtype=np.float32)
    model = keras.Sequential(
        [keras.Input(shape=(dim,)), _linear_layer(keras, 1, w0.reshape(dim, 1), "w")],
        name="ill_conditioned_quadratic",
    )
    return Landscape(model, x, y, keras.losses.MeanSquaredError())


def linear_network(
    depth: int = 2,
    input_dim: int = 4,
    hidden_dim: int = 4,
    output_dim: int = 2,
    num_samples: int = 64,
    init_scale: float = 0.0,
    seed: int = 0,
) -> Landscape:
    """A bias-free linear network of the given depth, fitted to a fixed random linear map.

    ```
    y_pred = x K1 K2 … Kd          (Keras kernels; P = K1 K2 … Kd, input_dim × output_dim)
    y      = x M,  x ~ N(0, 1),  M ~ N(0, 1/input_dim)   (both drawn from `seed`)
    L      = ‖XP − Y‖² / (N·m)     (mean squared error over N samples and m outputs)
    ∂L/∂P  = 2 Xᵀ(XP − Y) / (N·m)
    ∂L/∂Kk = (K1…K(k−1))ᵀ · ∂L/∂P · (K(k+1)…Kd)ᵀ
    at the zero init (init_scale=0):
      depth 1: a convex least-squares problem, ∇L = −2XᵀY/(N·m)
      depth 2: ∇L = 0 and H is indefinite: its nonzero eigenvalues are
               ±2σ_j(XᵀY)/(N·m), each repeated hidden_dim times  -> a strict saddle
      depth ≥ 3: ∇L = 0 and H = 0 (L changes only at order depth): a flat,
               higher-order critical point that the Hessian cannot classify
    ```

    Every product of weights is zero at the zero init, so gradient descent never moves
    it; small random weights (``init_scale > 0``) start near the saddle instead, which
    is the set-up of claim C2 of the notes.

    Args:
        depth: number of bias-free ``Dense`` layers (at least 1).
        input_dim: features of x.
        hidden_dim: width of every hidden layer (unused when depth is 1).
        output_dim: outputs m of the target map.
        num_samples: N, rows of x.
        init_scale: standard deviation of the initial kernels; 0 puts every weight at zero.
        seed: seed of x, M and the initial kernels.

    Returns:
        ``Landscape(model, x, y, loss)``: an uncompiled ``keras.Sequential``, float32
        x (N × input_dim) and y (N × output_dim), ``keras.losses.MeanSquaredError()``.

    Example:
        >>> import keras, numpy as np
        >>> from kerasnotes import datasets
        >>> model, x, y, loss = datasets.linear_network(depth=2)  # zero weights: y_pred = 0
        >>> value = keras.ops.convert_to_numpy(loss(y, model(x)))
        >>> bool(np.isclose(value, np.mean(y.astype(float) ** 2), rtol=1e-5))
        True
    """
    import keras

    depth = _validation.positive_int("depth", depth)
    input_dim = _validation.positive_int("input_dim", input_dim)
    hidden_dim = _validation.positive_int("hidden_dim", hidden_dim)
    output_dim = _validation.positive_int("output_dim", output_dim)
    num_samples = _validation.positive_int("num_samples", num_samples)
    init_scale = _validation.non_negative_number("init_scale", init_scale)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((num_samples, input_dim))
    target_map = rng.standard_normal((input_dim, output_dim)) / np.sqrt(input_dim)
    y = x @ target_map
    widths = [input_dim] + [hidden_dim] * (depth - 1) + [output_dim]
    layers = [keras.Input(shape=(input_dim,))]
    for k in range(depth):
        kernel = init_scale * rng.standard_normal((widths[k], widths[k + 1]))
        layers.append(_linear_layer(keras, widths[k + 1], kernel, f"K{k + 1}"))
    model = keras.Sequential(layers, name=f"linear_network_depth{depth}")
    return Landscape(
        model, x.astype(np.float32), y.astype(np.float32), keras.losses.MeanSquaredError()
    )


# ---------------------------------------------------------------------------
# Convolutional nets: the CIFAR-style ResNet that curvature tools are measured on
# ---------------------------------------------------------------------------


def _residual_block(keras: Any, inputs: Any, filters: int, stride: int, name: str) -> Any:
    """conv-BN-ReLU-conv-BN plus the shortcut, then ReLU (He et al. 2016, CIFAR variant)."""
    layers = keras.layers

    def conv(units: int, size: int, strides: int, suffix: str) -> Any:
        # No bias: the BatchNormalization after each convolution has its own shift β.
        return layers.Conv2D(
            units, size, strides=strides, padding="same", use_bias=False, name=f"{name}_{suffix}"
        )

    h = conv(filters, 3, stride, "conv1")(inputs)
    h = layers.BatchNormalization(name=f"{name}_bn1")(h)
    h = layers.Activation("relu", name=f"{name}_relu1")(h)
    h = conv(filters, 3, 1, "conv2")(h)
    h = layers.BatchNormalization(name=f"{name}_bn2")(h)
    shortcut = inputs
    if stride != 1 or inputs.shape[-1] != filters:
        # A 1x1 projection where the shape changes (option B of the paper), so the
        # model is plain Keras layers with no Lambda.
        shortcut = conv(filters, 1, stride, "proj")(inputs)
        shortcut = layers.BatchNormalization(name=f"{name}_proj_bn")(shortcut)
    h = layers.Add(name=f"{name}_add")([h, shortcut])
    return layers.Activation("relu", name=f"{name}_out")(h)


def cifar_resnet(
    depth: int = 20,
    width: int = 16,
    num_samples: int = 2048,
    image_size: int = 32,
    num_classes: int = 10,
    seed: int = 0,
) -> tuple[Any, np.ndarray, np.ndarray]:
    """A CIFAR-style ResNet with BatchNormalization, and random images to probe it on.

    ```
    depth = 6n + 2:  3x3 conv (width) - BN - ReLU
                     stage 1: n blocks of width channels,   stride 1
                     stage 2: n blocks of 2·width channels, the first with stride 2
                     stage 3: n blocks of 4·width channels, the first with stride 2
                     global average pooling - Dense(num_classes) (logits)
    block(h) = ReLU(BN(conv(ReLU(BN(conv(h))))) + shortcut(h)),
               shortcut = identity, or 1x1 conv + BN where the shape changes
    depth 20, width 16 (16/32/64 channels), 10 classes: 272,474 trainable
    parameters (274,042 with BN's moving statistics)
    ```

    The ResNet-20 of He et al. (2016), the model PyHessian and curvlinops report
    their Hessian results on, in plain Keras layers. The images are standard
    normal pixels and the labels uniform classes, both drawn from ``seed``: the cost
    of a gradient or a Hessian-vector product does not depend on image content, so
    benchmarks and tests need no download. The weights are Keras's initialisers
    under ``keras.utils.set_random_seed(seed)``; BN holds its initial moving
    statistics (mean 0, variance 1).

    Args:
        depth: number of weight layers, ``6n + 2`` with n ≥ 1 (8, 14, 20, 32, 44, 56, 110).
        width: channels of the first stage (16 in the paper).
        num_samples: number of images N.
        image_size: height and width of the square images (32 for CIFAR).
        num_classes: outputs of the final Dense layer.
        seed: seed of the weights, the images and the labels.

    Returns:
        ``(model, x, y)``: an uncompiled functional ``keras.Model`` taking
        ``(N, image_size, image_size, 3)`` float32 images (channels last) and giving
        logits, the images, and int32 labels of shape ``(N,)``; use
        ``SparseCategoricalCrossentropy(from_logits=True)``.

    Example:
        >>> import numpy as np
        >>> from kerasnotes import datasets
        >>> model, x, y = datasets.cifar_resnet(depth=8, width=2, num_samples=4, image_size=8)
        >>> x.shape, y.shape, model.output_shape
        ((4, 8, 8, 3), (4,), (None, 10))
        >>> sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        1420
    """
    import keras

    depth = _validation.positive_int("depth", depth)
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(
            _validation.message("depth", depth, "6n + 2 for an integer n >= 1 (8, 14, 20, ...)")
        )
    width = _validation.positive_int("width", width)
    num_samples = _validation.positive_int("num_samples", num_samples)
    image_size = _validation.positive_int("image_size", image_size)
    num_classes = _validation.positive_int("num_classes", num_classes)
    blocks_per_stage = (depth - 2) // 6
    _compat.set_random_seed(seed)
    inputs = keras.Input((image_size, image_size, 3), name="images")
    h = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    h = keras.layers.BatchNormalization(name="stem_bn")(h)
    h = keras.layers.Activation("relu", name="stem_relu")(h)
    for stage in range(3):
        for block in range(blocks_per_stage):
            stride = 2 if stage > 0 and block == 0 else 1
            h = _residual_block(keras, h, width * 2**stage, stride, f"stage{stage + 1}_{block + 1}")
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    outputs = keras.layers.Dense(num_classes, name="logits")(h)
    model = keras.Model(inputs, outputs, name=f"resnet{depth}")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((num_samples, image_size, image_size, 3)).astype(np.float32)
    y = rng.integers(0, num_classes, num_samples).astype(np.int32)
    return model, x, y
