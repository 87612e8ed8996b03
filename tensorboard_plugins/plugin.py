"""The kerasnotes TensorBoard plugin: HTTP routes over the logged curvature and optimizer data.

Routes (under ``/data/plugin/kerasnotes``), all JSON unless noted:

```
/runs                         every run with kerasnotes data and what it holds
/curvature?run=R              grad norm, λmin, λmax, minimum ratio + critical-point events
/sharpness?run=R              SharpnessMonitor: sharpness, stability threshold, HVPs per epoch
/layers?run=R                 per-layer curvature tables: λmax, trace ± stderr per layer and epoch
/spectrum?run=R[&step=S]      spectral density at step S (default: last) + all steps
/landscape?run=R[&step=S]     LandscapeLogger's plane, its slices and path at step S (default: last)
/optimizer?run=R              effective learning rate and update ratio per variable
/schedule?run=R               learning rate, early-stopping monitor and event
/notes?topic=T[&lang=en|zh]   note text for a view (curvature, spectrum, optimizer) or a topic
/static/<path>                the frontend: ES modules (views under static/views/) and a stylesheet
```

Steps are the event steps as logged (the 0-based epoch index); every field
named ``epoch``, ``epochs``, ``best_epoch`` or ``stopped_epoch`` is the epoch
number Keras prints (step + 1), and the frontend shows only those (see
``kerasnotes.tensorboard_plugins.data``).

A missing or malformed argument answers 400, an unknown run, step or topic
404, with a JSON body ``{"error": "..."}`` that says what was wrong. Unlike the
stock Scalars dashboard, which plots each tag alone, these routes join the
series a view needs (e.g. critical-point events with the gradient norm).
"""

from __future__ import annotations

import mimetypes
import os
import re
from collections.abc import Callable
from typing import Any

import werkzeug
from tensorboard import plugin_util
from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from kerasnotes.summary import layout
from kerasnotes.tensorboard_plugins import data, notes_view, query

PLUGIN_NAME = layout.PLUGIN_NAME
STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
#: One component of a static path: no separator, no leading dot (so never ``..``).
_STATIC_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_CONTENT_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".txt": "text/plain",
    ".md": "text/plain",
}
_JSON = "application/json"


def _error(request: wrappers.Request, code: int, message: str) -> werkzeug.Response:
    return http_util.Respond(request, {"error": message}, _JSON, code=code)


def _json_route(
    handler: Callable[[wrappers.Request], Any],
) -> Callable[..., werkzeug.Response]:
    """Wrap a handler returning a JSON-ready value; map our errors to 400/404."""

    @wrappers.Request.application
    def app(request: wrappers.Request) -> werkzeug.Response:
        try:
            return http_util.Respond(request, handler(request), _JSON)
        except query.BadRequest as error:
            return _error(request, 400, str(error))
        except query.NotFound as error:
            return _error(request, 404, str(error))

    return app


def _run_arg(request: wrappers.Request) -> str:
    run = request.args.get("run")
    if not run:
        raise query.BadRequest(
            f"Query argument `run` must be the name of a run listed by /runs. Received: run={run!r}"
        )
    return run


def _step_arg(request: wrappers.Request) -> int | None:
    step = request.args.get("step")
    if step is None or step == "":
        return None
    try:
        return int(step)
    except ValueError:
        raise query.BadRequest(
            f"Query argument `step` must be an integer. Received: step={step!r}"
        ) from None


def _static_files(root: str) -> frozenset[str]:
    """Every servable file under ``root``, as ``/``-joined paths relative to it.

    A path qualifies when each of its components matches ``_STATIC_NAME`` (so no
    dot-files or dot-folders, never ``..``) and the file it names really lies
    inside ``root``: a symbolic link that leads out of it is left out.
    """
    real_root = os.path.realpath(root)
    found = set()
    for folder, subfolders, files in os.walk(root):
        # Pruned in place so os.walk never enters a folder that could not be served.
        subfolders[:] = sorted(d for d in subfolders if _STATIC_NAME.match(d))
        relative = os.path.relpath(folder, root)
        parts = () if relative == os.curdir else tuple(relative.split(os.sep))
        for name in files:
            path = os.path.join(folder, name)
            if not _STATIC_NAME.match(name) or not os.path.isfile(path):
                continue
            if os.path.commonpath([real_root, os.path.realpath(path)]) != real_root:
                continue
            found.add("/".join((*parts, name)))
    return frozenset(found)


class KerasNotesPlugin(base_plugin.TBPlugin):
    """The "kerasnotes" tab: curvature, spectrum, optimizer state and the notes.

    Reads only through ``context.data_provider`` so it works with TensorBoard's
    Python loader and with ``--load_fast``.

    Args:
        context: TensorBoard's ``TBContext``; its ``data_provider`` is required.

    Example:
        >>> from tensorboard.plugins import base_plugin
        >>> plugin = KerasNotesPlugin(base_plugin.TBContext(data_provider=None))
        >>> sorted(plugin.get_plugin_apps())[:3]
        ['/curvature', '/landscape', '/layers']
    """

    plugin_name = PLUGIN_NAME

    def __init__(self, context: base_plugin.TBContext) -> None:
        self._provider = context.data_provider
        self._static_files = _static_files(STATIC_DIR)

    def get_plugin_apps(self) -> dict[str, Callable[..., Any]]:
        """The plugin's WSGI routes, relative to ``/data/plugin/kerasnotes``."""
        return {
            "/runs": _json_route(lambda r: {"runs": self._reader(r).runs()}),
            "/curvature": _json_route(lambda r: self._reader(r).curvature(_run_arg(r))),
            "/sharpness": _json_route(lambda r: self._reader(r).sharpness(_run_arg(r))),
            "/layers": _json_route(lambda r: self._reader(r).layers(_run_arg(r))),
            "/spectrum": _json_route(lambda r: self._reader(r).spectrum(_run_arg(r), _step_arg(r))),
            "/landscape": _json_route(
                lambda r: self._reader(r).landscape(_run_arg(r), _step_arg(r))
            ),
            "/optimizer": _json_route(lambda r: self._reader(r).optimizer(_run_arg(r))),
            "/schedule": _json_route(lambda r: self._reader(r).schedule(_run_arg(r))),
            "/notes": _json_route(
                lambda r: notes_view.notes(r.args.get("topic", ""), r.args.get("lang", "en"))
            ),
            "/static/*": self._serve_static,
        }

    def is_active(self) -> bool:
        """Whether any run holds kerasnotes scalars (tensors activate the tab by themselves)."""
        if self._provider is None:
            return False
        try:
            ctx = plugin_util.context({})
            return bool(data.RunReader(self._provider, ctx, "").runs())
        except Exception:  # noqa: BLE001 - a failing check must not break the plugin listing
            return False

    def data_plugin_names(self) -> tuple[str, ...]:
        """Summaries owned by this plugin: their presence enables the tab."""
        return (PLUGIN_NAME,)

    def frontend_metadata(self) -> base_plugin.FrontendMetadata:
        """The frontend is the ES module ``static/index.js`` (no build step)."""
        return base_plugin.FrontendMetadata(
            es_module_path="/static/index.js", tab_name="kerasnotes"
        )

    def _reader(self, request: wrappers.Request) -> data.RunReader:
        if self._provider is None:
            raise query.NotFound("TensorBoard gave this plugin no data provider")
        return data.RunReader(
            self._provider,
            plugin_util.context(request.environ),
            plugin_util.experiment_id(request.environ),
        )

    @wrappers.Request.application
    def _serve_static(self, request: wrappers.Request) -> werkzeug.Response:
        # Serve only files listed at start-up by exact relative path: "..",
        # a leading "/" and encoded separators cannot name anything outside static/.
        _, _, name = request.path.partition(f"/plugin/{PLUGIN_NAME}/static/")
        if name not in self._static_files:
            return http_util.Respond(request, f"no static file {name!r}", "text/plain", code=404)
        extension = os.path.splitext(name)[1]
        content_type = _CONTENT_TYPES.get(extension) or (
            mimetypes.guess_type(name)[0] or "application/octet-stream"
        )
        with open(os.path.join(STATIC_DIR, *name.split("/")), "rb") as handle:
            body = handle.read()
        return http_util.Respond(request, body, content_type)
