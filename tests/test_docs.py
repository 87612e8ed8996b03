"""The documentation site: a strict build, its generated pages, and every link in Chromium.

One ``mkdocs build --strict`` per module, into pytest's temporary folder (run from
another folder; the test checks that the clone is unchanged), with the tutorials
taken from a folder holding this module's percent-format fixture, today's
``examples/*.py`` and one script in another format. The build reads the notes'
text, the docstrings and the examples; no framework is imported, so it is
backend independent. Skipped, with the reason, without the ``docs`` extra.
"""

from __future__ import annotations

import functools
import html
import http.server
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest

from kerasnotes import notes

pytestmark = pytest.mark.backend_independent

for _module in ("mkdocs", "material", "mkdocstrings_handlers.python", "mkdocs_jupyter", "jupytext"):
    pytest.importorskip(_module, reason="the docs extra is not installed: pip install -e '.[docs]'")

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "tutorial_percent.py"
CHROMIUM = "/usr/bin/chromium"

# The public names of the design (DESIGN.md's contract), each with the page of the
# API reference that must document it (an element whose id is the full name).
DESIGN_NAMES = {
    "optimizers": [
        "kerasnotes.optimizers.SGD",
        "kerasnotes.optimizers.Adagrad",
        "kerasnotes.optimizers.RMSprop",
        "kerasnotes.optimizers.Adam",
        "kerasnotes.optimizers.get",
        "kerasnotes.optimizers.NotesOptimizer.inspect",
    ],
    "schedules": ["kerasnotes.schedules.ExponentialDecay", "kerasnotes.schedules.StepDecay"],
    "losses": [
        "kerasnotes.losses.BinaryCrossentropy",
        "kerasnotes.losses.CategoricalCrossentropy",
        "kerasnotes.losses.SparseCategoricalCrossentropy",
        "kerasnotes.losses.binary_crossentropy",
        "kerasnotes.losses.categorical_crossentropy",
        "kerasnotes.losses.sparse_categorical_crossentropy",
    ],
    "activations": ["kerasnotes.activations.softmax", "kerasnotes.activations.sigmoid"],
    "layers": [
        "kerasnotes.layers.BatchNormalization",
        "kerasnotes.layers.LayerNormalization",
        "kerasnotes.layers.GroupNormalization",
    ],
    "curvature": [
        "kerasnotes.curvature.HessianProbe",
        "kerasnotes.curvature.HessianProbe.loss",
        "kerasnotes.curvature.HessianProbe.gradient",
        "kerasnotes.curvature.HessianProbe.hvp",
        "kerasnotes.curvature.HessianProbe.eigenvalues",
        "kerasnotes.curvature.HessianProbe.trace",
        "kerasnotes.curvature.HessianProbe.spectral_density",
        "kerasnotes.curvature.HessianProbe.analyze",
        "kerasnotes.curvature.HessianProbe.dense_hessian",
        "kerasnotes.curvature.HessianProbe.ggn_vp",
        "kerasnotes.curvature.HessianProbe.landscape",
        "kerasnotes.curvature.HessianProbe.layer_curvature",
        "kerasnotes.curvature.HessianProbe.num_replicas",
        "kerasnotes.curvature.EigenResult",
        "kerasnotes.curvature.TraceResult",
        "kerasnotes.curvature.Density",
        "kerasnotes.curvature.CriticalPoint",
        "kerasnotes.curvature.Landscape",
        "kerasnotes.curvature.LayerCurvature",
    ],
    "callbacks": [
        "kerasnotes.callbacks.EarlyStopping",
        "kerasnotes.callbacks.LearningRateDecay",
        "kerasnotes.callbacks.SaddlePointDetector",
        "kerasnotes.callbacks.OptimizerInspector",
        "kerasnotes.callbacks.SharpnessMonitor",
        "kerasnotes.callbacks.LandscapeLogger",
    ],
    "summary": [
        "kerasnotes.summary.Writer",
        "kerasnotes.summary.Writer.scalar",
        "kerasnotes.summary.Writer.histogram",
        "kerasnotes.summary.Writer.tensor",
        "kerasnotes.summary.Writer.text",
        "kerasnotes.summary.Writer.flush",
        "kerasnotes.summary.Writer.close",
    ],
    "tuning": ["kerasnotes.tuning.NotesHyperModel"],
    "datasets": [
        "kerasnotes.datasets.load_digits",
        "kerasnotes.datasets.load_breast_cancer",
        "kerasnotes.datasets.load_iris",
        "kerasnotes.datasets.product_saddle",
        "kerasnotes.datasets.ill_conditioned_quadratic",
        "kerasnotes.datasets.linear_network",
    ],
    "notes": [
        "kerasnotes.notes.topics",
        "kerasnotes.notes.lookup",
        "kerasnotes.notes.render",
        "kerasnotes.notes.as_dict",
        "kerasnotes.notes.site_page",
    ],
    "tensorboard_plugins": ["kerasnotes.tensorboard_plugins"],
}
# Attributes set in __init__ have no element of their own; their owner's page names them.
DESIGN_ATTRIBUTES = {
    "curvature": ["num_parameters"],
    "callbacks": ["history"],
}
# Names of the design this tree does not implement yet: the test fails once one
# exists, so that it moves to DESIGN_NAMES (and into the reference) then.
NOT_YET_IMPLEMENTED: set[str] = set()


def _load_hooks():
    spec = importlib.util.spec_from_file_location("kerasnotes_docs_hooks", ROOT / "docs/hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = _load_hooks()


def _tree_state() -> str | None:
    # What git lists, ignored files included; bytecode caches are the interpreter's own.
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--ignored"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return "\n".join(line for line in out.splitlines() if "__pycache__/" not in line)


@pytest.fixture(scope="module")
def examples_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("examples")
    for script in (ROOT / "examples").glob("*.py"):
        shutil.copy(script, folder / script.name)
    shutil.copy(FIXTURE, folder / "zz_fixture.py")
    (folder / "zz_plain.py").write_text('"""Not a notebook."""\nprint("plain")\n')
    return folder


# The smallest valid PNG (1×1, grey): stands in for the tour's plots and the screenshots.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010800000000"
    "3a7e9b550000000a49444154789c636800000082008177cd72b60000000049454e44ae426082"
)


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Path]:
    """A tour folder with C1's plot (and a C5 folder without one) and one screenshot."""
    figures = tmp_path_factory.mktemp("tour")
    (figures / "C1").mkdir()
    (figures / "C1" / "c1_saddles.png").write_bytes(PNG)
    (figures / "C5").mkdir()  # a claim whose plot is missing: no image, no broken link
    shots = tmp_path_factory.mktemp("shots")
    (shots / "kerasnotes_curvature.png").write_bytes(PNG)
    return {"figures": figures, "shots": shots}


@pytest.fixture(scope="module")
def site(tmp_path_factory, examples_dir, images) -> Path:
    out = tmp_path_factory.mktemp("site")
    cwd = tmp_path_factory.mktemp("build_cwd")
    env = {
        **os.environ,
        "KERASNOTES_DOCS_EXAMPLES": str(examples_dir),
        "KERASNOTES_DOCS_FIGURES": str(images["figures"]),
        "KERASNOTES_DOCS_SCREENSHOTS": str(images["shots"]),
        "NO_MKDOCS_2_WARNING": "1",
    }
    env.pop("KERASNOTES_DOCS_EXECUTE", None)
    before = _tree_state()
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q"]
        + ["-f", str(ROOT / "mkdocs.yml"), "-d", str(out)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # -q keeps INFO out: anything printed is a warning or an error.
    assert result.stderr.strip() == "" and result.stdout.strip() == "", result.stderr
    assert _tree_state() == before, "mkdocs build wrote into the clone"
    return out


def _page(site: Path, url_path: str) -> str:
    return (site / url_path / "index.html").read_text(encoding="utf-8")


def test_every_chapter_page_exists_in_english_and_chinese(site):
    chapters = [t for t in notes.topics() if t.kind == "chapter"]
    assert [t.id for t in chapters] == ["ch1", "ch2", "ch3", "ch4", "ch5", "ch6"]
    for chapter in chapters:
        members = [t for t in notes.topics() if t.chapter == chapter.id and t.kind != "chapter"]
        assert members
        for lang in notes.LANGUAGES:
            prefix = "" if lang == "en" else "zh/"
            text = _page(site, f"{prefix}chapters/{chapter.id}")
            # The page's text, without tags: in one language (the navigation lists both).
            article = text.split("<article", 1)[1].split("</article>", 1)[0]
            plain = html.unescape(re.sub(r"<[^>]+>", "", article))
            other = "zh" if lang == "en" else "en"
            assert chapter.title(lang) in plain
            assert chapter.text[other].meaning[:30] not in plain
            for topic in members:
                assert f'id="{topic.id}"' in article, (lang, topic.id)
                # The formula's first line and the meaning's first sentence, as the notes say.
                assert topic.formula(lang).splitlines()[0] in plain, (lang, topic.id)
                meaning = topic.text[lang].meaning.split("\n")[0]
                assert re.sub(r"`", "", meaning)[:30] in plain, (lang, topic.id)


def test_the_tours_figure_and_the_screenshots_appear_where_they_exist(site):
    assert (site / "figures" / "C1.png").read_bytes() == PNG
    assert not (site / "figures" / "C5.png").exists()
    for prefix in ("", "zh/"):
        chapter = _page(site, f"{prefix}chapters/ch2")
        depth = "../../" if not prefix else "../../../"
        assert f'src="{depth}figures/C1.png"' in chapter
        assert "figures/C5" not in _page(site, f"{prefix}chapters/ch4")
    assert (site / "images" / "kerasnotes_curvature.png").read_bytes() == PNG
    assert 'src="../images/kerasnotes_curvature.png"' in _page(site, "tensorboard")


def test_every_topic_is_listed_on_the_index_pages(site):
    for lang, path in (("en", "chapters"), ("zh", "zh")):
        text = _page(site, path)
        for topic in notes.topics():
            if topic.kind != "chapter":
                assert f"#{topic.id}" in text, (lang, topic.id)


def test_explain_names_a_page_and_anchor_the_site_has(site):
    for topic in notes.topics():
        for lang in notes.LANGUAGES:
            page = notes.site_page(topic, lang)
            path, _, anchor = page.partition("#")
            assert (site / path).is_file(), page
            if anchor:
                assert f'id="{anchor}"' in (site / path).read_text(encoding="utf-8"), page
    assert notes.site_page("F13") == "chapters/ch2/index.html#F13"
    assert notes.site_page("C5", "zh") == "zh/chapters/ch4/index.html#C5"


def test_every_design_name_is_in_the_api_reference(site):
    import importlib

    for page, names in DESIGN_NAMES.items():
        text = _page(site, f"api/{page}")
        missing = [name for name in names if f'id="{name}"' not in text]
        assert not missing, f"api/{page} does not document {missing}"
    for page, attributes in DESIGN_ATTRIBUTES.items():
        text = _page(site, f"api/{page}")
        assert all(name in text for name in attributes), (page, attributes)
    for name in NOT_YET_IMPLEMENTED:
        obj = importlib.import_module("kerasnotes")
        for part in name.split(".")[1:]:
            obj = getattr(obj, part, None)
            if obj is None:
                break
        assert obj is None, f"{name} exists now: move it to DESIGN_NAMES"


def test_tutorials_render_percent_format_files_only(site, examples_dir):
    percent = hooks.tutorial_sources(examples_dir)
    assert examples_dir / "zz_fixture.py" in percent
    assert examples_dir / "zz_plain.py" not in percent
    assert not (site / "tutorials" / "zz_plain").exists()
    text = _page(site, "tutorials/zz_fixture")
    assert "A percent-format tutorial (test fixture)" in text
    assert "sum of squares" in text and "np.arange" in text
    listing = _page(site, "tutorials")
    assert 'href="zz_fixture/"' in listing and "zz_plain" not in listing
    for source in percent:
        assert (site / "tutorials" / source.stem / "index.html").is_file()


def test_a_tutorial_executes_in_quick_mode_with_its_outputs(tmp_path):
    pytest.importorskip("nbclient", reason="the docs extra is not installed")
    pytest.importorskip("ipykernel", reason="the docs extra is not installed")
    import nbformat

    before = os.environ.get("KERASNOTES_EXAMPLES_QUICK")
    path = hooks.tutorial_notebook(FIXTURE, tmp_path / "nb" / "fixture.ipynb", execute=True)
    assert os.environ.get("KERASNOTES_EXAMPLES_QUICK") == before  # the caller's is restored
    notebook = nbformat.read(path, as_version=4)
    outputs = "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )
    assert "quick mode: True" in outputs
    assert "sum of squares: 14" in outputs
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["fixture.ipynb", "nb"]


def test_benchmarks_page_keeps_the_text_and_breaks_no_link(tmp_path):
    (tmp_path / "bench_a.py").write_text('"""Time A against Keras.\n\nMore."""\n')
    generated = hooks.benchmarks_markdown(tmp_path)
    assert "## `bench_a.py`" in generated and "Time A against Keras." in generated
    (tmp_path / "README.md").write_text(
        "# Benchmarks\n\nSee [the script](bench_a.py) and [Keras](https://keras.io).\n"
        "<!-- bench:a -->\n| x |\n|---|\n<!-- /bench:a -->\n"
    )
    page = hooks.benchmarks_markdown(tmp_path)
    assert "the script (`bench_a.py`)" in page and "[Keras](https://keras.io)" in page
    assert "<!--" not in page and "| x |" in page


def test_chapter_markdown_escapes_the_notes_text_and_links_related_topics():
    page = hooks.chapter_markdown("ch2", "en")
    assert "### F13 · " in page and "{#F13}" in page
    # Related topics in other chapters link to their page, on this page to the anchor.
    f2 = page.split("{#F2}")[1].split("{#F2k}")[0]
    assert "(ch3.md#F1)" in f2 and "(#F2k)" in f2
    assert hooks._escape("θ* = argmin_θ [a] `keep_this`") == r"θ\* = argmin\_θ \[a\] `keep_this`"
    assert hooks._escape("α < 2/λ") == "α &lt; 2/λ"
    with pytest.raises(ValueError, match="chapter"):
        hooks.chapter_markdown("F13", "en")


# -- the built site in Chromium --------------------------------------------------------------------


@pytest.fixture
def served(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_every_internal_link_opens_without_404_or_console_error(served):
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is in the 'test' extra: pip install -e '.[test]'"
    )
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian's Chromium is not at {CHROMIUM} (apt-get install -y chromium)")
    origin = urlparse(served).netloc
    problems: list[str] = []
    seen: set[str] = set()
    queue = [served]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page()
            current = {"url": served}
            page.on(
                "console",
                lambda msg: (
                    problems.append(f"{current['url']}: console {msg.type}: {msg.text}")
                    if msg.type == "error"
                    else None
                ),
            )
            page.on("pageerror", lambda err: problems.append(f"{current['url']}: {err}"))
            page.on(
                "response",
                lambda r: (
                    problems.append(f"{current['url']}: {r.status} {r.url}")
                    if r.status >= 400
                    else None
                ),
            )
            page.on(
                "request",
                lambda r: (
                    problems.append(f"{current['url']}: network fetch {r.url}")
                    if urlparse(r.url).netloc not in (origin, "")
                    and not r.url.startswith(("data:", "blob:"))
                    else None
                ),
            )
            while queue:
                url = queue.pop(0)
                if url in seen:
                    continue
                seen.add(url)
                current["url"] = url
                response = page.goto(url, wait_until="load")
                if response is None or response.status != 200:
                    problems.append(f"{url}: status {response and response.status}")
                    continue
                for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
                    target = urldefrag(href).url
                    if urlparse(target).netloc == origin and target not in seen:
                        queue.append(target)
        finally:
            browser.close()
    assert not problems, "\n".join(problems[:20])
    # Every page of the site was reached by following links from the home page.
    assert any(u.endswith("/chapters/ch2/") for u in seen)
    assert any(u.endswith("/zh/chapters/ch6/") for u in seen)
    assert any(u.endswith("/api/curvature/") for u in seen)
    assert any(u.endswith("/tutorials/zz_fixture/") for u in seen)
    assert len(seen) >= 40
