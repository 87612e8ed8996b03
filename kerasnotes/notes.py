"""The notes as topics: every formula (F1–F19, F2k), claim (C0–C13) and chapter.

Each topic carries its formula, what it means, when to use it, the kerasnotes API
that implements it with an example that runs, the difference from the Keras
built-in where there is one, and related topics, in English and Chinese. The text
lives in ``kerasnotes/notes_text/{en,zh}.json`` (package data): ``en.json`` holds
each topic's structure (kind, chapter, names, API, example, related ids) and its
English text; ``zh.json`` holds the Chinese text and Chinese names for the same ids.

``kerasnotes explain`` prints :func:`render`; the TensorBoard plugin's Notes view
reads :func:`as_dict`.

Example:
    >>> from kerasnotes import notes
    >>> notes.lookup("saddle").id
    'F13'
    >>> print(notes.render("F1").splitlines()[0])
    F1 · Gradient descent (SGD)
"""

from __future__ import annotations

import difflib
import functools
import json
import re
import textwrap
import unicodedata
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

from kerasnotes import _validation

LANGUAGES = ("en", "zh")
KINDS = ("chapter", "formula", "claim")
TEXT_FIELDS = ("title", "formula", "meaning", "when", "keras_difference")
_LABELS = ("formula", "meaning", "when", "api", "example", "keras_difference", "related", "names")
_WIDTH = 88
_CJK_NAME = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")
_NAMES_COLUMN = 40
_SHORT_GROUP = re.compile(r"\([^()\u3000-\u9fff]{1,20}\)")
_GLUE = "\x00"
_NO_LINE_END = "（《「『“‘"
_NO_LINE_START = "，。、；：？！）》」』”’"


@dataclass(frozen=True)
class TopicText:
    """One topic's text in one language."""

    title: str
    formula: str
    meaning: str
    when: str
    keras_difference: str  # "" where kerasnotes has no Keras counterpart or adds nothing


@dataclass(frozen=True, eq=False)  # one object per topic: compared and hashed by identity
class Topic:
    """A formula, claim or chapter of the notes, with its text in every language.

    Attributes:
        id: "F1" … "F19", "F2k", "C0" … "C13" or "ch1" … "ch6".
        kind: "formula", "claim" or "chapter".
        chapter: id of the chapter the topic belongs to (a chapter names itself).
        names: short names that :func:`lookup` accepts besides the id, English first.
        api: the kerasnotes objects that implement or reproduce the topic.
        example: Python session (doctest format) that runs the API.
        related: ids of related topics.
        text: language code -> :class:`TopicText`.
    """

    id: str
    kind: str
    chapter: str
    names: tuple[str, ...]
    api: tuple[str, ...]
    example: str
    related: tuple[str, ...]
    text: MappingProxyType

    def title(self, lang: str = "en") -> str:
        """The topic's title in ``lang``."""
        return self.text[_check_lang(lang)].title

    def formula(self, lang: str = "en") -> str:
        """The topic's formula (plain text, unicode) in ``lang``."""
        return self.text[_check_lang(lang)].formula


def _check_lang(lang: str) -> str:
    return _validation.one_of("lang", lang, list(LANGUAGES))


def _read(lang: str) -> dict[str, Any]:
    source = resources.files("kerasnotes").joinpath("notes_text", f"{lang}.json")
    return json.loads(source.read_text(encoding="utf-8"))


def _normalise(name: str) -> str:
    # "Critical points", "critical_points" and "CRITICAL-POINTS" are the same name.
    return re.sub(r"[\s_]+", "-", name.strip()).casefold()


@functools.lru_cache(maxsize=1)
def _load() -> tuple[tuple[Topic, ...], MappingProxyType, MappingProxyType]:
    """Topics in the notes' order, the name index, and the section labels per language."""
    files = {lang: _read(lang) for lang in LANGUAGES}
    english = files["en"]["topics"]
    translated = {lang: {t["id"]: t for t in files[lang]["topics"]} for lang in LANGUAGES}
    ids = [t["id"] for t in english]
    for lang in LANGUAGES:
        if sorted(translated[lang]) != sorted(ids):
            raise RuntimeError(
                f"notes_text/{lang}.json does not cover the same topic ids as en.json"
            )
        missing = [key for key in _LABELS if key not in files[lang]["labels"]]
        if missing:
            raise RuntimeError(f"notes_text/{lang}.json lacks labels {missing}")
    topics = []
    for entry in english:
        text = {
            lang: TopicText(
                **{field: translated[lang][entry["id"]][field] for field in TEXT_FIELDS}
            )
            for lang in LANGUAGES
        }
        names = list(entry["names"])
        for lang in LANGUAGES[1:]:
            names += translated[lang][entry["id"]].get("names", [])
        topics.append(
            Topic(
                id=entry["id"],
                kind=entry["kind"],
                chapter=entry["chapter"],
                names=tuple(names),
                api=tuple(entry["api"]),
                example=entry["example"],
                related=tuple(entry["related"]),
                text=MappingProxyType(text),
            )
        )
    index: dict[str, Topic] = {}
    for topic in topics:
        for key in (topic.id, *topic.names):
            key = _normalise(key)
            if key in index and index[key] is not topic:
                raise RuntimeError(f"topic name {key!r} is used by {index[key].id} and {topic.id}")
            index[key] = topic
    labels = {lang: files[lang]["labels"] for lang in LANGUAGES}
    return tuple(topics), MappingProxyType(index), MappingProxyType(labels)


def topics() -> list[Topic]:
    """Every topic, in the notes' order: chapters, then formulas, then claims.

    Example:
        >>> from kerasnotes import notes
        >>> [t.id for t in notes.topics()][:3]
        ['ch1', 'ch2', 'ch3']
    """
    return list(_load()[0])


def close_matches(name: str, limit: int = 5) -> list[Topic]:
    """Topics whose id or names resemble ``name`` (for "did you mean" messages).

    Args:
        name: what the user typed.
        limit: most topics returned.
    """
    _, index, _ = _load()
    key = _normalise(name)
    found: list[Topic] = []
    # Names that contain the text (or are contained in it) first, then spelling neighbours.
    candidates = [k for k in index if key and (key in k or k in key) and len(k) > 1]
    candidates += difflib.get_close_matches(key, list(index), n=limit * 3, cutoff=0.6)
    for candidate in candidates:
        topic = index[candidate]
        if topic not in found:
            found.append(topic)
    return found[:limit]


def not_found_message(name: str) -> str:
    """A plain-words answer to a topic name that matches nothing, with the closest topics.

    Args:
        name: what the user typed.

    Example:
        >>> from kerasnotes import notes
        >>> print(notes.not_found_message("sadle"))  # doctest: +ELLIPSIS
        There is no topic called "sadle". Did you mean F13 (critical-points)...?
        Run `kerasnotes explain` to list every topic.
    """
    matches = close_matches(name)
    names = [f"{topic.id} ({topic.names[0]})" for topic in matches]
    if len(names) > 1:
        hint = f" Did you mean {', '.join(names[:-1])} or {names[-1]}?"
    elif names:
        hint = f" Did you mean {names[0]}?"
    else:
        hint = " No topic has a similar name."
    return (
        f'There is no topic called "{name}".{hint}\nRun `kerasnotes explain` to list every topic.'
    )


def lookup(name: str) -> Topic:
    """The topic with id or short name ``name`` (case-insensitive; spaces, "_" and "-" alike).

    Args:
        name: an id ("F13", "c2", "ch4") or a short name ("saddle", "adam", "鞍点").

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: no topic has that name; the message lists the closest ones.

    Example:
        >>> from kerasnotes import notes
        >>> notes.lookup("Critical points").id, notes.lookup("f2K").id
        ('F13', 'F2k')
    """
    if not isinstance(name, str):
        raise TypeError(_validation.message("name", name, "a topic id or name (str)"))
    _, index, _ = _load()
    topic = index.get(_normalise(name))
    if topic is not None:
        return topic
    matches = close_matches(name)
    hint = (
        "did you mean " + ", ".join(f"{t.id} ({t.names[0]})" for t in matches) + "?"
        if matches
        else "no topic has a similar name."
    )
    raise ValueError(
        _validation.message(
            "name",
            name,
            "a topic of the notes: an id F1–F19, F2k, C0–C13, ch1–ch6 or its short name "
            f"(`kerasnotes explain` lists them all); {hint}",
        )
    )


def _topic(topic_or_name: Topic | str) -> Topic:
    if isinstance(topic_or_name, Topic):
        return topic_or_name
    return lookup(topic_or_name)


def as_dict(topic: Topic | str, lang: str = "en") -> dict[str, Any]:
    """The topic in ``lang`` as a JSON-ready dict (what the TensorBoard Notes view shows).

    Keys: id, kind, chapter, lang, title, names, formula, meaning, when, api, example,
    keras_difference ("" where there is none) and related (a list of ``{"id", "title"}``).

    Args:
        topic: a :class:`Topic` or a name :func:`lookup` accepts.
        lang: "en" or "zh".

    Example:
        >>> from kerasnotes import notes
        >>> notes.as_dict("adam", "zh")["id"]
        'F5'
    """
    lang = _check_lang(lang)
    topic = _topic(topic)
    text = topic.text[lang]
    return {
        "id": topic.id,
        "kind": topic.kind,
        "chapter": topic.chapter,
        "lang": lang,
        "title": text.title,
        "names": list(topic.names),
        "formula": text.formula,
        "meaning": text.meaning,
        "when": text.when,
        "api": list(topic.api),
        "example": topic.example,
        "keras_difference": text.keras_difference,
        "related": [{"id": r, "title": lookup(r).title(lang)} for r in topic.related],
    }


def _width(text: str) -> int:
    # Terminal columns: CJK ideographs and full-width punctuation take two.
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _tokens(paragraph: str) -> list[str]:
    """Split into wrap units: words, single wide characters, and the spaces between."""
    # A short parenthesised formula such as "(1 − β)" is never split across lines.
    paragraph = _SHORT_GROUP.sub(lambda m: m.group(0).replace(" ", _GLUE), paragraph)
    tokens: list[str] = []
    for piece in re.findall(r"\s+|[^\s]+", paragraph):
        if piece.isspace():
            tokens.append(" ")
            continue
        piece = piece.replace(_GLUE, " ")
        word = ""
        for ch in piece:
            if unicodedata.east_asian_width(ch) in "WF":
                if word and word[-1] not in _NO_LINE_END:
                    tokens.append(word)
                    word = ""
                if ch in _NO_LINE_START and not word and tokens and not tokens[-1].isspace():
                    tokens[-1] += ch  # keep closing punctuation on the previous line
                elif ch in _NO_LINE_END:
                    word += ch  # keep opening punctuation with what follows it
                else:
                    tokens.append(word + ch)
                    word = ""
            else:
                word += ch
        if word:
            tokens.append(word)
    return tokens


def _wrap_paragraph(paragraph: str, indent: str, width: int) -> str:
    bullet = paragraph.startswith("- ")
    lines: list[str] = []
    line = indent
    hanging = indent + ("  " if bullet else "")
    for token in _tokens(paragraph):
        if token == " ":
            if line.strip():
                line += " "
            continue
        if _width(line) + _width(token) > width and line.strip():
            lines.append(line.rstrip())
            line = hanging
        line += token
    if line.strip():
        lines.append(line.rstrip())
    return "\n".join(lines)


def _wrap(text: str, indent: str = "    ", width: int = _WIDTH) -> str:
    # One paragraph per line of the source text; a line starting with "- " is a list item.
    return "\n".join(
        _wrap_paragraph(paragraph, indent, width)
        for paragraph in text.split("\n")
        if paragraph.strip()
    )


def render(topic_or_name: Topic | str, lang: str = "en") -> str:
    """The topic as plain text for the terminal (what ``kerasnotes explain TOPIC`` prints).

    Args:
        topic_or_name: a :class:`Topic` or a name :func:`lookup` accepts.
        lang: "en" or "zh".

    Raises:
        ValueError: unknown topic or language.

    Example:
        >>> from kerasnotes import notes
        >>> "θ ← θ − α∇L(θ)" in notes.render("sgd", lang="zh")
        True
    """
    lang = _check_lang(lang)
    topic = _topic(topic_or_name)
    text = topic.text[lang]
    labels = _load()[2][lang]
    indent = "    "
    sections = [
        f"{topic.id} · {text.title}",
        _wrap(f"{labels['names']}: " + ", ".join(topic.names), indent=""),
        labels["formula"] + "\n" + textwrap.indent(text.formula, indent),
        labels["meaning"] + "\n" + _wrap(text.meaning),
        labels["when"] + "\n" + _wrap(text.when),
        labels["api"] + "\n" + "\n".join(indent + name for name in topic.api),
        labels["example"] + "\n" + textwrap.indent(topic.example.rstrip(), indent),
    ]
    if text.keras_difference:
        sections.append(labels["keras_difference"] + "\n" + _wrap(text.keras_difference))
    if topic.related:
        related = [f"{indent}{r:<4} {lookup(r).title(lang)}" for r in topic.related]
        sections.append(labels["related"] + "\n" + "\n".join(related))
    return "\n\n".join(sections) + "\n"


def labels(lang: str = "en") -> dict[str, str]:
    """The section labels of :func:`render` in ``lang`` ("Formula", "What it means", ...).

    Args:
        lang: "en" or "zh".

    Example:
        >>> from kerasnotes import notes
        >>> notes.labels("zh")["formula"]
        '公式'
    """
    return dict(_load()[2][_check_lang(lang)])


def site_page(topic: Topic | str, lang: str = "en") -> str:
    """The topic's page in the documentation site, as a path relative to the built site.

    The site (``mkdocs build`` in a clone builds it into ``site/``; docs/building.md)
    has one page per chapter and language, ``chapters/<chapter>/index.html`` and
    ``zh/chapters/<chapter>/index.html``; a formula or claim is the anchor named by
    its id on its chapter's page. ``kerasnotes explain TOPIC`` ends with this path.

    Args:
        topic: a :class:`Topic` or a name :func:`lookup` accepts.
        lang: "en" or "zh".

    Example:
        >>> from kerasnotes import notes
        >>> notes.site_page("saddle")
        'chapters/ch2/index.html#F13'
        >>> notes.site_page("ch4", lang="zh")
        'zh/chapters/ch4/index.html'
    """
    lang = _check_lang(lang)
    topic = _topic(topic)
    prefix = "" if lang == "en" else f"{lang}/"
    anchor = "" if topic.kind == "chapter" else f"#{topic.id}"
    return f"{prefix}chapters/{topic.chapter}/index.html{anchor}"


def listing(lang: str = "en") -> str:
    """One line per topic: id, short names and title (what ``kerasnotes explain`` prints).

    Args:
        lang: language of the titles (and of the names shown first), "en" or "zh".

    Example:
        >>> from kerasnotes import notes
        >>> notes.listing().splitlines()[6]
        'F1    sgd, gradient-descent, gd               Gradient descent (SGD)'
    """
    lang = _check_lang(lang)
    lines = []
    for topic in topics():
        chinese = [name for name in topic.names if _CJK_NAME.search(name)]
        english = [name for name in topic.names if not _CJK_NAME.search(name)]
        shown = ""
        for name in (chinese + english) if lang == "zh" else english:
            candidate = f"{shown}, {name}" if shown else name
            if _width(candidate) > _NAMES_COLUMN - 2:
                break
            shown = candidate
        padding = " " * (_NAMES_COLUMN - _width(shown))
        lines.append(f"{topic.id:<5} {shown}{padding}{topic.title(lang)}")
    return "\n".join(lines) + "\n"
