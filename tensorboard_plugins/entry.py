"""TensorBoard's entry point for the kerasnotes plugin.

TensorBoard refuses to start when an entry point fails to import, so this
module imports only the standard library and TensorBoard itself. The plugin
(which needs numpy and kerasnotes) is imported inside :meth:`load`; any
failure there is logged and the plugin is skipped, and TensorBoard carries on
with its own dashboards.
"""

from __future__ import annotations

import importlib
import logging

from tensorboard.plugins import base_plugin

logger = logging.getLogger(__name__)

PLUGIN_MODULE = "kerasnotes.tensorboard_plugins.plugin"
PLUGIN_NAME = "kerasnotes"


class KerasNotesLoader(base_plugin.TBLoader):
    """Loads the kerasnotes plugin, or skips it with a log line when it cannot load."""

    def fix_flags(self, flags: object) -> None:
        """Keep every kerasnotes tensor unless ``--samples_per_plugin`` says otherwise.

        TensorBoard keeps only 10 samples per tag of a plugin it does not know;
        a run probed every epoch needs all of its critical points and spectral
        densities. ``0`` means "keep all" for both the Python loader and the
        Rust data server (``--load_fast``).
        """
        samples = getattr(flags, "samples_per_plugin", None)
        if isinstance(samples, dict):
            samples.setdefault(PLUGIN_NAME, 0)

    def load(self, context: base_plugin.TBContext) -> base_plugin.TBPlugin | None:
        try:
            plugin_module = importlib.import_module(PLUGIN_MODULE)
            return plugin_module.KerasNotesPlugin(context)
        except Exception:  # noqa: BLE001 - any failure must leave TensorBoard running
            logger.exception("kerasnotes TensorBoard plugin disabled: it failed to load")
            return None
