"""PNG plots and TensorBoard image summaries for the claims, with no display needed.

Figures are ``matplotlib.figure.Figure`` objects drawn by the Agg canvas
directly, so nothing touches pyplot's global state or needs a screen.

Example:
    >>> import tempfile, pathlib
    >>> figure, (axes,) = new_figure(1)
    >>> _ = axes.plot([1, 2, 3])
    >>> path = save(figure, pathlib.Path(tempfile.mkdtemp()) / "line.png")
    >>> path.read_bytes()[:4] == b"\\x89PNG"
    True
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def new_figure(columns: int, title: str = "", height: float = 3.6) -> tuple[Figure, list[Any]]:
    """A figure with ``columns`` side-by-side axes, drawn by Agg.

    Args:
        columns: number of panels.
        title: the figure's title (the claim).
        height: inches.
    """
    figure = Figure(figsize=(4.6 * columns, height), layout="constrained")
    FigureCanvasAgg(figure)
    axes = [figure.add_subplot(1, columns, k + 1) for k in range(columns)]
    if title:
        figure.suptitle(title)
    return figure, axes


def save(figure: Figure, path: str | os.PathLike) -> Path:
    """Write ``figure`` as a PNG at ``path`` (folders created) and return the path.

    Args:
        figure: the figure.
        path: the file to write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


def tile_images(images: np.ndarray, columns: int) -> np.ndarray:
    """Lay out ``(n, h, w)`` images on a grid with a one-pixel gap; values scaled to [0, 1].

    Each image is scaled by its own largest absolute value, so positive and
    negative weights map to the bright and dark ends around mid-grey.

    ```
    pixel = 0.5 + 0.5 · v / max|v|    (per image)
    ```

    Args:
        images: ``(n, h, w)`` real numbers.
        columns: images per row.

    Example:
        >>> tile_images(np.ones((4, 2, 2)), columns=2).shape
        (5, 5)
    """
    images = np.asarray(images, dtype=np.float64)
    count, height, width = images.shape
    rows = -(-count // columns)
    grid = np.ones(((height + 1) * rows - 1, (width + 1) * columns - 1))
    for k, image in enumerate(images):
        scale = np.max(np.abs(image)) or 1.0
        top, left = (k // columns) * (height + 1), (k % columns) * (width + 1)
        grid[top : top + height, left : left + width] = 0.5 + 0.5 * image / scale
    return grid


def png_bytes(grid: np.ndarray, zoom: int = 8) -> bytes:
    """Encode a 2-D array in [0, 1] as a grey PNG, each pixel enlarged ``zoom`` times.

    Args:
        grid: values in [0, 1].
        zoom: side of the square each value becomes.
    """
    from matplotlib import image as mpl_image

    big = np.kron(np.clip(grid, 0.0, 1.0), np.ones((zoom, zoom)))
    buffer = io.BytesIO()
    mpl_image.imsave(buffer, big, cmap="gray", vmin=0.0, vmax=1.0, format="png")
    return buffer.getvalue()


def write_image_summary(
    log_dir: str | os.PathLike, tag: str, png: bytes, width: int, height: int, step: int = 0
) -> None:
    """Write one PNG as a TensorBoard image summary (the stock Images dashboard) in ``log_dir``.

    Goes through the run's shared ``kerasnotes.summary.Writer``, so the image
    lands in the same event file as the run's scalars.

    Args:
        log_dir: the run directory.
        tag: the image's name.
        png: PNG-encoded bytes.
        width: the image's width in pixels.
        height: the image's height in pixels.
        step: the x-axis value.
    """
    from kerasnotes.summary import Writer

    writer = Writer.for_log_dir(log_dir)
    writer.image(tag, png, width=width, height=height, step=step)
    writer.flush()


def integer_ticks(axes: Any) -> None:
    """Only whole numbers on the x axis (epochs, updates).

    Example:
        >>> figure, (axes,) = new_figure(1)
        >>> integer_ticks(axes)
    """
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))


def plane(
    axes: Any,
    surface: Any,
    values: np.ndarray,
    labels: dict[str, str],
    contours: list[float] | None = None,
) -> None:
    """Heat map of ``values`` on a landscape's plane (a along d₁, b along d₂), the centre marked.

    Args:
        axes: the panel.
        surface: a ``kerasnotes.curvature.Landscape`` (its ``a`` and ``b`` axes).
        values: what to colour, shape (len(a), len(b)).
        labels: ``colorbar``, ``point`` (the centre's legend), ``x``, ``y`` and ``title``.
        contours: levels of white contour lines, if any.
    """
    filled = axes.contourf(surface.a, surface.b, values.T, levels=24, cmap="viridis")
    if contours:
        axes.contour(
            surface.a, surface.b, values.T, levels=contours, colors="white", linewidths=0.6
        )
    axes.figure.colorbar(filled, ax=axes, shrink=0.85, label=labels["colorbar"])
    axes.plot([0], [0], "o", color="#e03131", label=labels["point"])
    axes.set_xlabel(labels["x"])
    axes.set_ylabel(labels["y"])
    axes.set_title(labels["title"], fontsize=9)
    axes.legend(fontsize=7, loc="upper right")
