"""Read back what a test wrote to TensorBoard, as TensorBoard's own data provider serves it."""

from __future__ import annotations


def read(log_dir, kind: str = "scalars", plugin: str = "scalars") -> dict:
    """The one run under ``log_dir``: tag -> its points (``kind`` "scalars" or "tensors")."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer

    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(log_dir))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(log_dir))
    read_kind = provider.read_scalars if kind == "scalars" else provider.read_tensors
    (run,) = read_kind(
        context.RequestContext(), experiment_id="", plugin_name=plugin, downsample=100
    ).values()
    return run
