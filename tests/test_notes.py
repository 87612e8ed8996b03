"""kerasnotes.notes: every formula, claim and chapter, in English and Chinese."""

from __future__ import annotations

import doctest
import io
import json
import re
import unicodedata

import pytest

from kerasnotes import notes

EXPECTED_IDS = (
    [f"ch{i}" for i in range(1, 7)]
    + ["F1", "F2", "F2k"]
    + [f"F{i}" for i in range(3, 20)]
    + [f"C{i}" for i in range(14)]
)
CJK = re.compile(r"[\u4e00-\u9fff]")

independent = pytest.mark.backend_independent


def _cjk_share(text: str) -> float:
    """Share of Chinese among the text's units: each CJK character, each Latin word."""
    chinese = len(CJK.findall(text))
    latin_words = len(re.findall(r"[A-Za-z]+", text))
    return chinese / max(chinese + latin_words, 1)


@independent
def test_every_formula_claim_and_chapter_is_a_topic_in_the_notes_order():
    assert [t.id for t in notes.topics()] == EXPECTED_IDS
    kinds = {t.id: t.kind for t in notes.topics()}
    assert all(kinds[i] == "chapter" for i in EXPECTED_IDS[:6])
    assert all(kinds[i] == "formula" for i in EXPECTED_IDS[6:26])
    assert all(kinds[i] == "claim" for i in EXPECTED_IDS[26:])


def _each_topic_and_language():
    for topic in notes.topics():
        for lang in notes.LANGUAGES:
            yield topic, lang


@independent
def test_every_topic_renders_with_formula_api_example_and_related():
    for topic, lang in _each_topic_and_language():
        _check_rendered(topic, lang)


def _check_rendered(topic: notes.Topic, lang: str) -> None:
    text = notes.render(topic, lang=lang)
    assert text.startswith(f"{topic.id} · {topic.title(lang)}\n")
    for line in topic.formula(lang).splitlines():
        assert line in text  # the formula is printed verbatim, line by line
    for api in topic.api:
        assert api in text
    for line in topic.example.strip().splitlines():
        assert line in text
    for related in topic.related:
        assert f"{related:<4} {notes.lookup(related).title(lang)}" in text
    entry = topic.text[lang]
    assert entry.title and entry.formula and entry.meaning and entry.when
    if entry.keras_difference:
        assert entry.keras_difference[:20] in text.replace("\n    ", " ")


@independent
def test_chinese_text_is_chinese_and_english_text_is_english():
    for topic in notes.topics():
        _check_languages(topic)


def _check_languages(topic: notes.Topic) -> None:
    zh, en = topic.text["zh"], topic.text["en"]
    assert CJK.search(zh.title), f"{topic.id} zh title has no Chinese"
    for field in ("meaning", "when"):
        assert _cjk_share(getattr(zh, field)) > 0.5, f"{topic.id} zh {field} is not Chinese"
    for field in ("title", "meaning", "when", "keras_difference"):
        assert not CJK.search(getattr(en, field)), f"{topic.id} en {field} contains CJK"
    assert bool(zh.keras_difference) == bool(en.keras_difference)
    if zh.keras_difference:
        # API names are code; the prose around them must still be Chinese
        assert len(CJK.findall(zh.keras_difference)) >= 15, topic.id
    assert CJK.search(notes.render(topic, "zh"))


@independent
def test_lookup_by_id_and_every_name_in_any_case():
    for topic in notes.topics():
        _check_lookups(topic)


def _check_lookups(topic: notes.Topic) -> None:
    assert notes.lookup(topic.id) is topic
    assert notes.lookup(topic.id.lower()) is topic
    assert notes.lookup(f"  {topic.id.upper()} ") is topic
    assert len(topic.names) >= 2
    for name in topic.names:
        assert notes.lookup(name) is topic
        assert notes.lookup(name.upper()) is topic
        assert notes.lookup(name.replace("-", " ")) is topic
        assert notes.lookup(name.replace("-", "_")) is topic


SHORT_NAMES = [
    ("saddle", "F13"),
    ("Critical points", "F13"),
    ("critical_points", "F13"),
    ("鞍点", "F13"),
    ("momentum", "F2"),
    ("heavy-ball", "F2k"),
    ("f2K", "F2k"),
    ("adagrad", "F3"),
    ("ADAM", "F5"),
    ("early-stopping", "F15"),
    ("batch-norm", "F11"),
    ("softmax", "F10"),
    ("CH4", "ch4"),
    ("c10", "C10"),
    ("归一化", "ch6"),
    ("loss-landscape", "F16"),
    ("edge of stability", "F17"),
    ("sharpness", "F17"),
    ("layer_curvature", "F18"),
    ("GGN", "F19"),
    ("高斯-牛顿", "F19"),
    ("逐层曲率", "F18"),
    ("c13", "C13"),
]


@independent
def test_lookup_short_names():
    for name, topic_id in SHORT_NAMES:
        assert notes.lookup(name).id == topic_id, name


@independent
@pytest.mark.parametrize(
    ("name", "suggested"),
    [
        ("sadle", "F13"),
        ("adm", "F5"),
        ("rmsprp", "F4"),
        ("batchnormalization", "F11"),
        ("F20", "F2"),
        ("gaus-newton", "F19"),
        ("edge-of-stabilty", "F17"),
        ("layer-curvatur", "F18"),
        ("landscap", "F16"),
    ],
)
def test_unknown_name_is_a_value_error_with_close_matches(name, suggested):
    with pytest.raises(ValueError, match=re.escape(repr(name))) as raised:
        notes.lookup(name)
    assert suggested in str(raised.value)
    assert suggested in [t.id for t in notes.close_matches(name)]


@independent
def test_lookup_rejects_non_strings_and_nonsense():
    with pytest.raises(TypeError, match="name"):
        notes.lookup(13)
    with pytest.raises(ValueError, match="kerasnotes explain"):
        notes.lookup("zzzzqqqq")


@independent
def test_unknown_language_names_the_allowed_values():
    for call in (notes.render, notes.as_dict, notes.listing):
        args = () if call is notes.listing else ("F1",)
        with pytest.raises(ValueError, match=r"lang.*\['en', 'zh'\].*'fr'"):
            call(*args, lang="fr")


@independent
def test_as_dict_is_json_ready_and_matches_the_topic():
    for topic, lang in _each_topic_and_language():
        data = notes.as_dict(topic, lang)
        assert json.loads(json.dumps(data, ensure_ascii=False)) == data
        assert data["id"] == topic.id and data["lang"] == lang
        assert data["title"] == topic.title(lang) and data["formula"] == topic.formula(lang)
        assert data["api"] == list(topic.api) and data["example"] == topic.example
        assert [r["id"] for r in data["related"]] == list(topic.related)
        assert all(r["title"] == notes.lookup(r["id"]).title(lang) for r in data["related"])
    assert notes.as_dict("saddle", "zh")["id"] == "F13"


@independent
def test_structure_is_consistent():
    ids = set(EXPECTED_IDS)
    for topic in notes.topics():
        assert topic.chapter in {f"ch{i}" for i in range(1, 7)}
        if topic.kind == "chapter":
            assert topic.chapter == topic.id
        assert topic.related and set(topic.related) <= ids and topic.id not in topic.related
        assert topic.api and topic.example.strip()
    # every formula and claim is listed under its chapter's related topics or points to it
    for topic in notes.topics():
        if topic.kind != "chapter":
            chapter = notes.lookup(topic.chapter)
            assert topic.id in chapter.related or chapter.id in topic.related


@independent
def test_the_notes_formulas_are_stated_exactly():
    # spot checks of the formulas the library implements (NOTES.md F1–F19)
    formula = {t.id: t.formula("en") for t in notes.topics()}
    assert "θ ← θ − α∇L(θ)" in formula["F1"]
    assert "v_t = βv_{t−1} + (1 − β)∇L" in formula["F2"] and "θ_t = θ_{t−1} − αv_t" in formula["F2"]
    assert "v_t = βv_{t−1} − α∇L" in formula["F2k"] and "θ_t = θ_{t−1} + v_t" in formula["F2k"]
    assert "g_t = g_{t−1} + (∇L)²" in formula["F3"] and "α/√(g_t + ε)" in formula["F3"]
    assert "E[g²]_t = βE[g²]_{t−1} + (1 − β)(∇L)²" in formula["F4"]
    assert "m̂_t = m_t/(1 − β₁ᵗ)" in formula["F5"]
    assert "α_t = α₀·e^{−γt}" in formula["F6"]
    assert "α_t = α₀·drop^⌊t/every⌋" in formula["F7"]
    assert "(1 − y_i) log(1 − ŷ_i)" in formula["F8"]
    assert "Σ_c y_ic log ŷ_ic" in formula["F9"]
    assert "e^{z_c} / Σ_{k=1}^{C} e^{z_k}" in formula["F10"]
    assert "x̂_i = (x_i − μ_B)/√(σ²_B + ε)" in formula["F11"]
    assert "uᵀHu = L(θ) + ½η²λ‖u‖²" in formula["F13"]
    assert "positive eigenvalues" in formula["F14"]


# Formula fragments of F16–F19 and C11–C13 (NOTES.md) that both languages state verbatim.
NEW_FORMULAS = {
    "F16": ["L(θ + a·d₁ + b·d₂)", "[−span, span]", "L(θ + a·u) ≈ L(θ) + ½λa²"],
    "F17": [
        "e_{t+1} = (1 − ηλ)·e_t",
        "η > 2/λmax",
        "ηλ > 2 + 2β",
        "λmax(P^{1/2}HP^{1/2}) > 2",
        "(2 + 2β₁)/(1 − β₁)",
        "β₁ = 0.9",
        "≈ 2/η",
    ],
    "F18": ["H_ll = ∂²L/∂θ_l²", "Σ_l tr(H_ll) = tr(H)", "λmax(H_ll) ≤ λmax(H)"],
    "F19": [
        "H = JᵀH_ℓJ + Σ_k (∂ℓ/∂f_k)∇²f_k",
        "G = JᵀH_ℓJ",
        "R = Σ_k (∂ℓ/∂f_k)∇²f_k",
        "vᵀGv = (Jv)ᵀH_ℓ(Jv) ≥ 0",
        "H_ℓ = diag(p) − ppᵀ ⪰ 0",
        "uᵀRu ≤ λ < 0",
    ],
    "C11": ["≈ 2/η", "‖∇L‖"],
    "C12": ["α/√(g_t + ε)"],
    "C13": ["λmax(H_ll)", "2/λmax", "L(cW) = L(W)", "∇²_W L(cW) = ∇²_W L(W)/c²"],
}


@independent
@pytest.mark.parametrize("lang", notes.LANGUAGES)
def test_new_formulas_are_stated_exactly_in_both_languages(lang):
    for topic_id, fragments in NEW_FORMULAS.items():
        formula = notes.lookup(topic_id).formula(lang)
        for fragment in fragments:
            assert fragment in formula, (topic_id, lang, fragment)
    assert "38" in notes.lookup("F17").formula(lang)  # (2 + 2·0.9)/(1 − 0.9)


@independent
def test_f19_teaches_that_all_negative_curvature_comes_from_the_residual():
    f19 = notes.lookup("F19")
    words = {
        "en": (
            "softmax cross-entropy",
            "positive semi-definite",
            "negative eigenvalue",
            "residual",
        ),
        "zh": ("softmax 交叉熵", "半正定", "负特征值", "残差项"),
    }
    for lang in notes.LANGUAGES:
        text = f19.text[lang]
        for word in words[lang]:
            assert word in text.meaning, (lang, word)
        assert "C1" in text.meaning  # the saddles of C1 are where the residual dominates
        assert 'operator="ggn"' in text.when
    assert {"C1", "F13"} <= set(f19.related)
    assert 'kerasnotes.curvature.HessianProbe.eigenvalues(operator="ggn")' in f19.api
    assert any(api.startswith("kerasnotes.curvature.HessianProbe.ggn_vp") for api in f19.api)


def _resolve(path: str) -> None:
    """Import the module at the head of ``path`` and follow its attributes; raise if one is absent."""
    import dataclasses
    import importlib

    head, *attributes = path.split(".")
    target = importlib.import_module(head)
    for position, attribute in enumerate(attributes):
        if hasattr(target, attribute):
            target = getattr(target, attribute)
            continue
        # A dataclass field without a default (CriticalPoint.minimum_ratio) is no class attribute.
        fields = (
            {f.name for f in dataclasses.fields(target)}
            if dataclasses.is_dataclass(target)
            else set()
        )
        if attribute in fields and position == len(attributes) - 1:
            return
        raise AttributeError(f"{path}: {attribute!r} not found")


@independent
def test_every_api_a_topic_names_exists():
    from kerasnotes import experiments

    missing = []
    for topic in notes.topics():
        for api in topic.api:
            if api.startswith("kerasnotes tour"):
                claim = api.split("--only")[1].split()[0]
                assert claim in experiments.registered(), (topic.id, api)
                continue
            name = re.split(r"[\s(\[]", api, maxsplit=1)[0]
            if name.split(".")[0] not in ("kerasnotes", "keras"):
                continue  # a method of the user's object, e.g. optimizer.inspect(variable)
            try:
                _resolve(name)
            except (AttributeError, ImportError):
                missing.append(f"{topic.id}: {name}")
    assert not missing, missing


@independent
def test_a_claim_names_its_tour_run_exactly_when_the_tour_has_one():
    from kerasnotes import experiments

    for topic in notes.topics():
        if topic.kind != "claim":
            continue
        in_tour = topic.id in experiments.REGISTRY
        assert (f"kerasnotes tour --only {topic.id}" in topic.api) == in_tour, topic.id
        assert (f"--only {topic.id}" in topic.example) == in_tour, topic.id
        if not in_tour:  # the text must not promise a figure that does not exist
            assert "The tour does not run this claim yet" in topic.text["en"].meaning
            assert "漫游目前还不运行这个论断" in topic.text["zh"].meaning
        else:
            assert "does not run this claim" not in topic.text["en"].meaning


@independent
def test_keras_differences_state_the_documented_facts():
    diff = {
        t.id: (t.text["en"].keras_difference, t.text["zh"].keras_difference) for t in notes.topics()
    }
    assert "heavy-ball" in diff["F2"][0] and "1/(1 − β)" in diff["F2"][0]
    assert 'momentum_form="ema"' in diff["F2"][0] and 'momentum_form="ema"' in diff["F2"][1]
    for text in diff["F3"]:
        assert "initial_accumulator_value=0.1" in text and "initial_accumulator_value=0.0" in text
    assert "inside the square root" in diff["F4"][0] and "rho" in diff["F4"][1]
    for text in diff["F5"]:
        assert "ε/√(1 − β₂ᵗ)" in text and "1e-7" in text
    assert "decay_rate = e^{−γ}" in diff["F6"][0]
    assert "staircase=True" in diff["F7"][0]
    assert "momentum=0.99" in diff["F11"][0]


@independent
def test_rendered_lines_fit_the_terminal():
    def columns(line: str) -> int:
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line)

    for topic in notes.topics():
        for lang in notes.LANGUAGES:
            entry = topic.text[lang]
            wrapped = notes.render(topic, lang).split(notes._load()[2][lang]["api"])[0]
            for line in wrapped.splitlines():
                if (
                    line.strip()
                    and line.strip() not in entry.formula
                    and not line.startswith(topic.id)
                ):
                    assert columns(line) <= 88, (topic.id, lang, line)


@independent
def test_listing_has_one_line_per_topic():
    for lang in notes.LANGUAGES:
        lines = notes.listing(lang).splitlines()
        assert len(lines) == len(EXPECTED_IDS)
        for line, topic in zip(lines, notes.topics(), strict=True):
            assert line.startswith(topic.id) and line.endswith(topic.title(lang))


def _missing_module(example: str) -> str | None:
    """The kerasnotes submodule an example needs that is not in this checkout, if any."""
    import importlib.util

    for module in sorted(set(re.findall(r"\bkn\.(\w+)\.", example))):
        if importlib.util.find_spec(f"kerasnotes.{module}") is None:
            return f"kerasnotes.{module}"
    return None


@pytest.mark.parametrize("kind", notes.KINDS)
def test_examples_run_and_print_what_they_show(kind):
    # One test per kind (not per topic) keeps the per-test Keras teardown cost low.
    failures, missing = [], []
    for topic in notes.topics():
        if topic.kind != kind:
            continue
        module = _missing_module(topic.example)
        if module:
            missing.append(f"{topic.id} needs {module}")
            continue
        test = doctest.DocTestParser().get_doctest(topic.example, {}, topic.id, None, 0)
        assert test.examples, f"{topic.id}'s example has no Python session"
        runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
        report = io.StringIO()
        if runner.run(test, out=report.write).failed:
            failures.append(report.getvalue())
    assert not failures, "\n".join(failures)
    if missing:
        pytest.skip(
            "examples of other engineers' modules not in this checkout yet: " + "; ".join(missing)
        )


@independent
def test_example_commands_parse():
    from kerasnotes import cli, experiments

    parser = cli._build_parser()
    pending = []
    for topic in notes.topics():
        for line in topic.example.splitlines():
            if not line.startswith("$ "):
                continue
            command = line[2:].split("#")[0].split()
            assert command[0] == "kerasnotes", topic.id
            if "--only" in command:
                claim = command[command.index("--only") + 1]
                if claim not in experiments.registered():
                    pending.append(claim)  # the tour's engineer has not added its experiment yet
                    continue
            assert parser.parse_args(command[1:]).command == command[1]
    if pending:
        pytest.skip(f"the tour has no experiment yet for {pending}; their commands were not parsed")


@independent
def test_module_docstring_examples_run():
    result = doctest.testmod(notes, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_f13_states_the_one_classification_rule_in_every_language():
    from kerasnotes.curvature import classify

    for lang in notes.LANGUAGES:
        assert classify.RULE in notes.lookup("F13").formula(lang)
        assert classify.RULE in notes.render("F13", lang).replace("\n    ", "\n")
