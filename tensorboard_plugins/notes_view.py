"""The Notes view's text: the formulas behind each kerasnotes view, in English or Chinese.

The text comes from :mod:`kerasnotes.notes`, the same source as
``kerasnotes explain``; this module only maps each view of the tab to its
topics of the notes:

```
curvature -> F13 (critical points), F14 (minimum ratio)
spectrum  -> F13, F14 (the eigenvalue density behind them)
landscape -> F16 (the loss along the directions that matter)
optimizer -> F3 Adagrad, F4 RMSprop, F5 Adam, F6/F7 learning-rate decay, F15 early stopping
```
"""

from __future__ import annotations

from typing import Any

from kerasnotes.tensorboard_plugins.query import BadRequest, NotFound

LANGUAGES = ("en", "zh")
#: View of the tab -> topics of the notes it explains, in reading order.
VIEW_TOPICS: dict[str, tuple[str, ...]] = {
    "curvature": ("F13", "F14"),
    "spectrum": ("F13", "F14"),
    "landscape": ("F16",),
    "optimizer": ("F3", "F4", "F5", "F6", "F7", "F15"),
}


def notes(topic: str, lang: str = "en") -> dict[str, Any]:
    """The note entries for a view of the tab, or for one topic of the notes.

    Args:
        topic: a view (``"curvature"``, ``"spectrum"``, ``"landscape"``, ``"optimizer"``) or any
            topic ``kerasnotes.notes.lookup`` knows (e.g. ``"F13"``).
        lang: ``"en"`` or ``"zh"``.

    Returns:
        ``{"topic": topic, "lang": lang, "entries": [as_dict(...), ...]}``.

    Example:
        >>> notes("curvature", "en")["entries"][0]["id"]
        'F13'
    """
    try:
        from kerasnotes import notes as notes_text  # the text is needed only when asked for
    except ImportError as error:  # a JSON error like every route, not TensorBoard's HTML 500
        raise NotFound(f"the notes text could not be loaded ({error})") from None
    if lang not in LANGUAGES:
        raise BadRequest(
            f"Query argument `lang` must be one of {list(LANGUAGES)}. Received: lang={lang!r}"
        )
    if not topic:
        raise BadRequest(
            f"Query argument `topic` must be one of {sorted(VIEW_TOPICS)} or a topic of the "
            f"notes. Received: topic={topic!r}"
        )
    names = VIEW_TOPICS.get(topic, (topic,))
    entries = []
    for name in names:
        try:
            entries.append(notes_text.as_dict(notes_text.lookup(name), lang))
        except (KeyError, LookupError, ValueError) as error:
            raise NotFound(f"no note for topic={name!r} ({error})") from None
        except (OSError, RuntimeError) as error:  # the installed notes text is missing or broken
            raise NotFound(f"the notes text could not be read ({error})") from None
    return {"topic": topic, "lang": lang, "entries": entries}
