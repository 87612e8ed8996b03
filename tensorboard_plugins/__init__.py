"""The kerasnotes TensorBoard plugin (``plugin_name = "kerasnotes"``).

TensorBoard finds it through the ``tensorboard_plugins`` entry point, which
names :class:`kerasnotes.tensorboard_plugins.entry.KerasNotesLoader`. This
package's ``__init__`` imports nothing, so loading the entry point can never
stop TensorBoard from starting.
"""
