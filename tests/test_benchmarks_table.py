"""benchmarks/_table.py: a benchmark's tables replace only its own section of the README."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.backend_independent

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "_table.py"


@pytest.fixture(scope="module")
def table():
    spec = importlib.util.spec_from_file_location("_bench_table", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


README = """# Benchmarks

Prose that stays.

<!-- bench:hvp -->
| old | hvp |
<!-- /bench:hvp -->

Between the sections.

<!-- bench:optimizers -->
| old | optimizers |
<!-- /bench:optimizers -->
"""


def test_replace_section_touches_only_its_section(table):
    new = table.replace_section(
        README, "hvp", "\n| backend | ratio |\n|---|---|\n| jax | 1.4 |\n\n"
    )
    assert new == README.replace("| old | hvp |", "| backend | ratio |\n|---|---|\n| jax | 1.4 |")
    # Replacing again with the same table changes nothing (idempotent).
    assert table.replace_section(new, "hvp", "| backend | ratio |\n|---|---|\n| jax | 1.4 |") == new
    # An empty table leaves the markers on their own lines.
    assert "<!-- bench:hvp -->\n\n<!-- /bench:hvp -->" in table.replace_section(README, "hvp", "")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("no markers\n", "found them 0 and 0 times"),
        ("<!-- bench:hvp -->\nonly the start\n", "found them 1 and 0 times"),
        (README + "<!-- bench:hvp -->\n<!-- /bench:hvp -->\n", "found them 2 and 2 times"),
        ("<!-- /bench:hvp -->\n<!-- bench:hvp -->\n", "comes before"),
    ],
)
def test_missing_repeated_or_swapped_markers_are_errors(table, text, match):
    with pytest.raises(ValueError, match=match):
        table.replace_section(text, "hvp", "| a |")


def test_a_bad_section_name_is_an_error(table):
    with pytest.raises(ValueError, match="name='a b'"):
        table.markers("a b")


def test_write_section_rewrites_the_file_and_keeps_it_whole_on_failure(table, tmp_path):
    path = tmp_path / "README.md"
    path.write_text(README, encoding="utf-8")
    table.write_section("optimizers", "| new | optimizers |", path)
    assert path.read_text(encoding="utf-8") == README.replace(
        "| old | optimizers |", "| new | optimizers |"
    )
    before = path.read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="bench:missing"):
        table.write_section("missing", "| x |", path)
    assert path.read_text(encoding="utf-8") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]  # no temporary left


def test_tables_prints_and_writes_what_the_block_printed(table, tmp_path, capsys):
    path = tmp_path / "README.md"
    path.write_text(README, encoding="utf-8")
    with table.tables("hvp", write=True, path=path):
        print("| backend | ratio |")
        print("| torch | 1.7 |")
    assert capsys.readouterr().out == "| backend | ratio |\n| torch | 1.7 |\n"
    assert "<!-- bench:hvp -->\n| backend | ratio |\n| torch | 1.7 |\n<!-- /bench:hvp -->" in (
        path.read_text(encoding="utf-8")
    )
    with table.tables("optimizers", write=False, path=path):
        print("| not written |")
    assert "not written" not in path.read_text(encoding="utf-8")
    written = path.read_text(encoding="utf-8")
    with pytest.raises(RuntimeError), table.tables("optimizers", write=True, path=path):
        print("| half a table |")
        raise RuntimeError("the benchmark failed")
    assert path.read_text(encoding="utf-8") == written  # a failed run keeps the last numbers
    assert sys.stdout is not None


def test_every_benchmark_script_has_its_section_in_the_readme():
    folder = _PATH.parent
    text = (folder / "README.md").read_text(encoding="utf-8")
    # bench_optimizers and bench_resnet20 run one backend a process, so they have one
    # section per backend.
    sections = {
        name: [f"{name}.{b}" for b in ("tensorflow", "jax", "torch")]
        for name in ("optimizers", "resnet20")
    }
    for script in sorted(folder.glob("bench_*.py")):
        name = script.stem.removeprefix("bench_")
        for section in sections.get(name, [name]):
            assert text.count(f"<!-- bench:{section} -->") == 1, section
            assert text.count(f"<!-- /bench:{section} -->") == 1, section
        source = script.read_text(encoding="utf-8")
        assert "_table.add_flag(" in source, name
        assert f'_table.tables("{name}"' in source or f'_table.tables(f"{name}.' in source, name


def test_bench_million_states_its_model_and_checks_its_probes(monkeypatch):
    # The README quotes 1,058,058 parameters: the count the script states must be the model's.
    monkeypatch.syspath_prepend(str(_PATH.parent))
    spec = importlib.util.spec_from_file_location(
        "_bench_million", _PATH.parent / "bench_million.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model, _ = module._setup.mlp(module.INPUTS, module.HIDDEN, module.CLASSES)
    assert model.count_params() == module.num_parameters() == 1_058_058
    assert module._probes("4096,1024:0") == [(4096, None), (1024, 0)]
    for wrong in ("512,0", "512:-1", "a"):
        with pytest.raises(argparse.ArgumentTypeError, match=f"--probes .* got '{wrong}'"):
            module._probes(wrong)
