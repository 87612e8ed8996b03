"""``kerasnotes explain``: the topic list, one topic per language, and helpful errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kerasnotes import cli, notes

pytestmark = pytest.mark.backend_independent


def test_explain_alone_lists_every_topic_with_names_and_title(capsys):
    assert cli.main(["explain"]) == 0
    out = capsys.readouterr().out
    for topic in notes.topics():
        line = next(line for line in out.splitlines() if line.split(" ", 1)[0] == topic.id)
        assert topic.names[0] in line and line.endswith(topic.title("en"))


def test_explain_lists_titles_in_chinese(capsys):
    assert cli.main(["explain", "--lang", "zh"]) == 0
    out = capsys.readouterr().out
    assert notes.lookup("F13").title("zh") in out


def test_explain_every_topic_in_both_languages(capsys):
    for topic in notes.topics():
        for lang in notes.LANGUAGES:
            assert cli.main(["explain", topic.id, "--lang", lang]) == 0
            out = capsys.readouterr().out
            # The topic's text, then one line with its page in the built site.
            site_line = out.splitlines()[-1]
            assert out == notes.render(topic, lang) + "\n" + site_line + "\n"
            assert f"site/{notes.site_page(topic, lang)}" in site_line
            assert topic.formula(lang).splitlines()[0] in out


def test_explain_by_id_or_short_name(capsys):
    for name, topic_id in [("saddle", "F13"), ("F13", "F13"), ("ADAM", "F5"), ("鞍点", "F13")]:
        assert cli.main(["explain", name]) == 0
        assert capsys.readouterr().out.startswith(f"{topic_id} · ")


def test_unknown_topic_exits_2_with_close_matches(capsys):
    assert cli.main(["explain", "sadle"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert (
        '"sadle"' in captured.err and "F13" in captured.err and "kerasnotes explain" in captured.err
    )


def test_explain_lists_and_suggests_the_curvature_topics(capsys):
    assert cli.main(["explain"]) == 0
    listed = capsys.readouterr().out.split("\n\n")[0]  # the topic lines, before the hint
    ids = [line.split(" ", 1)[0] for line in listed.splitlines()]
    after = ids.index("F15") + 1
    assert ids[after : after + 4] == ["F16", "F17", "F18", "F19"]
    assert ids[-3:] == ["C11", "C12", "C13"]
    assert cli.main(["explain", "gaus-newton"]) == 2
    assert "Did you mean F19 (gauss-newton)?" in capsys.readouterr().err
    assert cli.main(["explain", "ggn", "--lang", "zh"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("F19 · 高斯-牛顿分解") and "半正定" in out


def test_unknown_language_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(["explain", "F1", "--lang", "fr"])
    assert raised.value.code == 2
    assert "invalid choice: 'fr'" in capsys.readouterr().err


def test_console_program_prints_utf8_and_needs_no_keras():
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    code = (
        "import sys; from kerasnotes import cli; status = cli.main(['explain', 'saddle', '--lang', 'zh']);"
        "print('keras loaded' if 'keras' in sys.modules else 'no keras'); sys.exit(status)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, timeout=120)
    out = done.stdout.decode("utf-8")
    assert done.returncode == 0, done.stderr.decode()
    assert "鞍点" in out and out.rstrip().endswith("no keras")


def test_module_entry_unknown_topic_exit_status():
    done = subprocess.run(
        [sys.executable, "-m", "kerasnotes", "explain", "no-such-topic"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert 'no topic called "no-such-topic"' in done.stderr
