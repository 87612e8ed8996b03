"""MkDocs hooks: the site's pages whose text has one source elsewhere in the repository.

``mkdocs.yml`` names this module under ``hooks:``. At build time it adds virtual
pages (nothing is written into the working tree):

- ``chapters/<chapter>.md`` and ``zh/chapters/<chapter>.md``: one page per chapter of
  the notes in English and Chinese, from :mod:`kerasnotes.notes` (the text
  ``kerasnotes explain`` prints): the chapter, then its formulas and claims, each
  under an anchor named by its id (``chapters/ch2/#F13``), with the formula, what it
  means, when to use it, the kerasnotes API, the example, the difference from the
  Keras built-in and related topics. :func:`kerasnotes.notes.site_page` gives the
  same paths, so ``kerasnotes explain TOPIC`` points at the page made here.
- ``chapters/index.md`` and ``zh/index.md``: every topic with a link to its page.
- ``tutorials/<name>.ipynb``: every ``examples/*.py`` in Jupytext percent format
  (``# %%`` cells), converted with jupytext and rendered by mkdocs-jupyter. Files in
  another format are skipped. With ``KERASNOTES_DOCS_EXECUTE=1`` each notebook is
  executed first (``KERASNOTES_EXAMPLES_QUICK=1``, in a temporary folder), so the
  pages carry their outputs.
- ``benchmarks.md``: ``benchmarks/README.md`` where it exists, else the benchmark
  scripts with their docstrings' first paragraph.

Optional images, never a broken link: ``KERASNOTES_DOCS_FIGURES=DIR`` (a
``kerasnotes tour --logdir DIR`` folder) adds each claim's plot
(``DIR/<claim>/*.png``) under the claim; ``KERASNOTES_DOCS_SCREENSHOTS=DIR`` (where
the browser test saved ``kerasnotes_*.png`` with ``KERASNOTES_SCREENSHOT_DIR``)
adds the TensorBoard tab's screenshots to ``tensorboard.md``, besides any committed
under ``docs/images/``.

The functions that build the markdown are plain functions of their inputs, so
``tests/test_docs.py`` calls them without running MkDocs.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import tempfile
from pathlib import Path

from mkdocs.plugins import event_priority

ROOT = Path(__file__).resolve().parent.parent

#: Nav sections of mkdocs.yml that this module fills (they are empty lists there).
NAV_CHAPTERS = "Chapters of the notes"
NAV_TUTORIALS = "Tutorials"
NAV_CHINESE = "中文"

#: Headings that are site chrome, not the notes' text (the notes' labels cover the rest).
_HEADINGS = {
    "en": {
        "formulas": "Formulas",
        "claims": "Claims",
        "figure": "The tour's figure",
        "index": "Chapters of the notes",
        "topic": "Topic",
        "page": "Page",
        "index_intro": "Every chapter, formula (F1–F19, F2k) and claim (C0–C13) of the "
        "notes, with its page. `kerasnotes explain TOPIC` prints the same text in the "
        "terminal and ends with the page's path in this site.",
    },
    "zh": {
        "formulas": "公式",
        "claims": "论断",
        "figure": "导览（tour）生成的图",
        "index": "笔记各章",
        "topic": "主题",
        "page": "页面",
        "index_intro": "笔记的每一章、每个公式（F1–F19、F2k）和每个论断（C0–C13）及其页面。"
        "`kerasnotes explain TOPIC --lang zh` 在终端中打印同样的文字，最后一行给出本站中的页面路径。",
    },
}

_PERCENT_CELL = re.compile(r"^# %%", re.MULTILINE)
_MATHJAX_CDN = re.compile(
    r'<script src="https://cdnjs\.cloudflare\.com/ajax/libs/mathjax/[^"]*">\s*</script>'
)
_SCREENSHOT_MARKER = "<!-- kerasnotes:screenshots -->"
_BENCHMARK_MARKER = re.compile(r"<!--\s*/?bench:[^>]*-->\n?")


# -- the notes' chapters -------------------------------------------------------------------------


def _escape(text: str) -> str:
    """Markdown-escape prose, leaving `code spans` as they are (the notes use them for names)."""
    parts = re.split(r"(`[^`]*`)", text)
    for i in range(0, len(parts), 2):
        # Python-Markdown has no backslash escape for "<": an entity keeps it text.
        parts[i] = re.sub(r"([\\*_\[\]>{}|#])", r"\\\1", parts[i]).replace("<", "&lt;")
    return "".join(parts)


def _paragraphs(text: str) -> str:
    # One paragraph per line of the notes' text; a line starting with "- " is a list item.
    blocks: list[str] = []
    for line in text.split("\n"):
        if not line.strip():
            continue
        if line.startswith("- ") and blocks and blocks[-1].startswith("- "):
            blocks[-1] += "\n" + _escape(line)
        else:
            blocks.append(_escape(line))
    return "\n\n".join(blocks)


def _fence(text: str, language: str = "text") -> str:
    return f"```{language}\n{text.rstrip()}\n```"


def chapter_src(chapter: str, lang: str) -> str:
    """The docs path (``src_uri``) of a chapter's page: ``chapters/ch2.md``, ``zh/chapters/ch2.md``."""
    prefix = "" if lang == "en" else f"{lang}/"
    return f"{prefix}chapters/{chapter}.md"


def _link(from_chapter: str, topic, lang: str) -> str:
    # Chapter pages of one language sit in one folder: link by file name (MkDocs checks it).
    page = f"{topic.chapter}.md"
    anchor = "" if topic.kind == "chapter" else f"#{topic.id}"
    if topic.chapter == from_chapter and anchor:
        return anchor
    return page + anchor


def _figure(claim: str, figures: Path | None) -> Path | None:
    """The tour's plot for ``claim`` under ``figures/<claim>/`` (the first PNG by name)."""
    if figures is None or not (figures / claim).is_dir():
        return None
    pngs = sorted((figures / claim).glob("*.png"))
    return pngs[0] if pngs else None


def _topic_markdown(topic, lang: str, level: int, figure_uri: str | None) -> str:
    from kerasnotes import notes

    labels = notes.labels(lang)
    text = topic.text[lang]
    heading = "#" * level
    if topic.kind == "chapter":
        lines = [f"{heading} {_escape(text.title)}"]
    else:
        lines = [f"{heading} {topic.id} · {_escape(text.title)} {{#{topic.id}}}"]
    lines += [
        f"**{labels['names']}:** " + ", ".join(f"`{name}`" for name in topic.names),
        f"**{labels['formula']}**",
        _fence(text.formula),
        f"**{labels['meaning']}**",
        _paragraphs(text.meaning),
        f"**{labels['when']}**",
        _paragraphs(text.when),
        f"**{labels['api']}**",
        "\n".join(f"- `{name}`" for name in topic.api),
        f"**{labels['example']}**",
        _fence(topic.example, "pycon"),
    ]
    if text.keras_difference:
        lines += [f"**{labels['keras_difference']}**", _paragraphs(text.keras_difference)]
    if figure_uri is not None:
        alt = _HEADINGS[lang]["figure"]
        lines += [f"**{alt}**", f"![{alt}: {topic.id}]({figure_uri})"]
    if topic.related:
        related = []
        for rid in topic.related:
            other = notes.lookup(rid)
            related.append(
                f"- [{other.id} · {_escape(other.title(lang))}]"
                f"({_link(topic.chapter, other, lang)})"
            )
        lines += [f"**{labels['related']}**", "\n".join(related)]
    return "\n\n".join(lines) + "\n"


def chapter_markdown(chapter: str, lang: str, figures: dict[str, str] | None = None) -> str:
    """A chapter's page: the chapter, then its formulas, then its claims (the notes' order).

    Args:
        chapter: "ch1" … "ch6".
        lang: "en" or "zh".
        figures: claim id -> image path relative to this page, for the claims that have one.
    """
    from kerasnotes import notes

    figures = figures or {}
    head = notes.lookup(chapter)
    if head.kind != "chapter":
        raise ValueError(
            f"Argument `chapter` must be a chapter id such as 'ch2'. Received: chapter={chapter!r}"
        )
    members = [t for t in notes.topics() if t.chapter == chapter and t.kind != "chapter"]
    parts = [_topic_markdown(head, lang, 1, None)]
    for kind, title in (("formula", "formulas"), ("claim", "claims")):
        group = [t for t in members if t.kind == kind]
        if group:
            parts.append(f"## {_HEADINGS[lang][title]}\n")
            parts += [_topic_markdown(t, lang, 3, figures.get(t.id)) for t in group]
    return "\n".join(parts)


def chapters_index_markdown(lang: str) -> str:
    """Every topic with a link to its chapter page (``chapters/index.md``, ``zh/index.md``)."""
    from kerasnotes import notes

    words = _HEADINGS[lang]
    lines = [f"# {words['index']}", "", words["index_intro"], ""]
    for chapter in (t for t in notes.topics() if t.kind == "chapter"):
        lines.append(f"## [{_escape(chapter.title(lang))}](chapters/{chapter.id}.md)")
        lines.append("")
        lines.append(f"| {words['topic']} | {words['page']} |")
        lines.append("| --- | --- |")
        for topic in notes.topics():
            if topic.chapter == chapter.id and topic.kind != "chapter":
                lines.append(
                    f"| [{topic.id}](chapters/{chapter.id}.md#{topic.id}) "
                    f"| {_escape(topic.title(lang))} |"
                )
        lines.append("")
    text = "\n".join(lines)
    # chapters/index.md sits beside the English pages, zh/index.md above zh/chapters/.
    return text.replace("](chapters/", "](") if lang == "en" else text


# -- tutorials -------------------------------------------------------------------------------------


def is_percent_format(path: Path) -> bool:
    """Whether ``path`` is a Jupytext percent-format script (it has ``# %%`` cells)."""
    try:
        return bool(_PERCENT_CELL.search(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError):
        return False


def tutorial_sources(examples: Path) -> list[Path]:
    """The ``examples/*.py`` files in percent format, by name (others are skipped)."""
    return [p for p in sorted(examples.glob("*.py")) if is_percent_format(p)]


def tutorial_notebook(source: Path, destination: Path, execute: bool = False) -> Path:
    """Convert a percent-format script to ``destination`` (.ipynb), executing it if asked.

    Execution runs in a temporary folder with ``KERASNOTES_EXAMPLES_QUICK=1`` (the
    tutorials' short mode), so what the tutorial writes (runs/, plots) stays out of
    the working tree; a cell that raises fails the build.
    """
    import jupytext

    notebook = jupytext.read(source)
    notebook.metadata.setdefault(
        "kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"}
    )
    if execute:
        from nbclient import NotebookClient

        previous = os.environ.get("KERASNOTES_EXAMPLES_QUICK")
        os.environ["KERASNOTES_EXAMPLES_QUICK"] = "1"  # the kernel inherits it
        try:
            with tempfile.TemporaryDirectory(prefix="kerasnotes-tutorial-") as cwd:
                NotebookClient(
                    notebook,
                    timeout=1800,
                    kernel_name="python3",
                    resources={"metadata": {"path": cwd}},
                ).execute()
        finally:
            if previous is None:
                del os.environ["KERASNOTES_EXAMPLES_QUICK"]
            else:
                os.environ["KERASNOTES_EXAMPLES_QUICK"] = previous
    destination.parent.mkdir(parents=True, exist_ok=True)
    jupytext.write(notebook, destination, fmt="ipynb")
    return destination


def _tutorial_title(source: Path) -> str:
    # The first markdown heading of the tutorial, else its file name.
    for line in source.read_text(encoding="utf-8").splitlines():
        match = re.match(r"#\s+#\s+(.+)", line)
        if match:
            return match.group(1).strip()
    return source.stem


# -- benchmarks ------------------------------------------------------------------------------------


def _docs_link(match: re.Match) -> str:
    # A relative link into the repository (a script, another README) is not a page of
    # the site: keep its text and show the target as code, so no link is broken.
    text, target = match.group(1), match.group(2)
    if re.match(r"[a-z]+://|#", target):
        return match.group(0)
    return f"{text} (`{target}`)"


def benchmarks_markdown(benchmarks: Path) -> str:
    """``benchmarks/README.md`` as a page, else each script with its docstring's first paragraph."""
    readme = benchmarks / "README.md"
    if readme.is_file():
        text = readme.read_text(encoding="utf-8")
        text = _BENCHMARK_MARKER.sub("", text)
        return re.sub(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)", _docs_link, text)
    lines = [
        "# Benchmarks",
        "",
        "Speed is proven by these scripts, as ratios measured in one run against the Keras "
        "built-in or the peer tool, never as a timed test. Run one with "
        "`python benchmarks/<script>.py --help` to see its options.",
        "",
    ]
    for script in sorted(benchmarks.glob("bench_*.py")):
        doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
        first = doc.split("\n\n")[0].replace("\n", " ").strip()
        lines += [f"## `{script.name}`", "", _escape(first) if first else "", ""]
    return "\n".join(lines)


# -- screenshots ---------------------------------------------------------------------------------


def _screenshots() -> list[Path]:
    # docs/images/kerasnotes_*.png (committed) are ordinary files of the site already.
    directory = os.environ.get("KERASNOTES_DOCS_SCREENSHOTS")
    return sorted(Path(directory).glob("kerasnotes_*.png")) if directory else []


# -- MkDocs events ---------------------------------------------------------------------------------


_state: dict = {}


def _fill_nav(nav: list, title: str, entries: list) -> None:
    for item in nav:
        if isinstance(item, dict) and title in item:
            item[title] = entries
            return
    raise ValueError(f"mkdocs.yml's nav has no section {title!r} for docs/hooks.py to fill")


def on_config(config):
    """Decide the generated pages (so the nav can name them) and fill the nav's empty sections."""
    from kerasnotes import notes

    chapters = [t for t in notes.topics() if t.kind == "chapter"]
    # KERASNOTES_DOCS_EXAMPLES: another folder of tutorials (the tests render a fixture).
    tutorials = tutorial_sources(
        Path(os.environ.get("KERASNOTES_DOCS_EXAMPLES", ROOT / "examples"))
    )
    _state.clear()
    _state["chapters"] = chapters
    _state["tutorials"] = tutorials
    _state["tmp"] = Path(tempfile.mkdtemp(prefix="kerasnotes-docs-"))
    nav = config["nav"]
    _fill_nav(
        nav,
        NAV_CHAPTERS,
        ["chapters/index.md"] + [{t.title("en"): chapter_src(t.id, "en")} for t in chapters],
    )
    _fill_nav(
        nav,
        NAV_CHINESE,
        ["zh/index.md"] + [{t.title("zh"): chapter_src(t.id, "zh")} for t in chapters],
    )
    tutorial_nav: list = [{_tutorial_title(p): f"tutorials/{p.stem}.ipynb"} for p in tutorials]
    _fill_nav(nav, NAV_TUTORIALS, ["tutorials/index.md", *tutorial_nav])
    return config


@event_priority(100)  # before mkdocs-jupyter's on_files, which takes over the notebooks
def on_files(files, config):
    """Add the generated pages as virtual files (the tutorials' notebooks in a temporary folder)."""
    from mkdocs.structure.files import File

    from kerasnotes import notes

    def add(src_uri: str, content: str | None = None, abs_src_path: str | None = None):
        files.append(File.generated(config, src_uri, content=content, abs_src_path=abs_src_path))

    figures_dir = os.environ.get("KERASNOTES_DOCS_FIGURES")
    figures_root = Path(figures_dir) if figures_dir else None
    for chapter in _state["chapters"]:
        claims = [t.id for t in notes.topics() if t.chapter == chapter.id and t.kind == "claim"]
        figures = {}
        for claim in claims:
            png = _figure(claim, figures_root)
            if png is not None:
                add(f"figures/{claim}.png", abs_src_path=str(png))
                figures[claim] = f"../figures/{claim}.png"
        for lang in ("en", "zh"):
            page_figures = {k: ("../" + v if lang != "en" else v) for k, v in figures.items()}
            add(chapter_src(chapter.id, lang), chapter_markdown(chapter.id, lang, page_figures))
    add("chapters/index.md", chapters_index_markdown("en"))
    add("zh/index.md", chapters_index_markdown("zh"))

    execute = os.environ.get("KERASNOTES_DOCS_EXECUTE") == "1"
    tutorials = _state["tutorials"]
    listing = [
        "# Tutorials",
        "",
        "Each tutorial is a script in `examples/` (Jupytext percent format: run it with "
        "`python examples/<name>.py`, or open it as a notebook with Jupytext). "
        + (
            "These pages were executed at build time in quick mode."
            if execute
            else "These pages show the code without outputs; building with "
            "`KERASNOTES_DOCS_EXECUTE=1` runs them in quick mode and shows their outputs "
            "(see [Building these docs](../building.md))."
        ),
        "",
    ]
    for source in tutorials:
        tutorial_notebook(
            source, _state["tmp"] / "tutorials" / f"{source.stem}.ipynb", execute=execute
        )
        # A real file in the temporary folder: mkdocs-jupyter reads the notebook from disk.
        files.append(
            File(
                f"tutorials/{source.stem}.ipynb",
                src_dir=str(_state["tmp"]),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
        listing.append(f"- [{_tutorial_title(source)}]({source.stem}.ipynb)")
    if not tutorials:
        listing.append("No tutorial in Jupytext percent format is in `examples/` yet.")
    add("tutorials/index.md", "\n".join(listing) + "\n")
    add("benchmarks.md", benchmarks_markdown(ROOT / "benchmarks"))
    for png in _screenshots():
        committed = files.get_file_from_path(f"images/{png.name}")
        if committed is not None:
            files.remove(committed)  # the fresh screenshot replaces the committed one
        add(f"images/{png.name}", abs_src_path=str(png))
    return files


def on_page_markdown(markdown, page, config, files):
    """Put the TensorBoard tab's screenshots where ``tensorboard.md`` asks for them."""
    if _SCREENSHOT_MARKER not in markdown:
        return markdown
    shots = sorted(
        f.src_uri
        for f in files
        if f.src_uri.startswith("images/kerasnotes_") and f.src_uri.endswith(".png")
    )
    # Markdown links are relative to the page's source file.
    here = Path(page.file.src_uri).parent
    images = "\n\n".join(
        f"![The kerasnotes tab: {Path(uri).stem.removeprefix('kerasnotes_')}]"
        f"({os.path.relpath(uri, here).replace(os.sep, '/')})"
        for uri in shots
    )
    return markdown.replace(_SCREENSHOT_MARKER, images)


def on_post_page(output, page, config):
    """Drop the MathJax script mkdocs-jupyter links from a CDN: the site works offline."""
    # The tutorials' formulas are unicode text, as in the notes; nothing needs TeX.
    return _MATHJAX_CDN.sub("", output)


def on_post_build(config):
    """Remove the temporary folder of the tutorials' notebooks."""
    tmp = _state.pop("tmp", None)
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)


def on_build_error(error):
    on_post_build(None)
