"""The package skeleton: imports, subpackage mapping, console script, entry point."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

pytestmark = pytest.mark.backend_independent


def _run(code: str, **env: str) -> str:
    import os

    completed = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=True,
    )
    return completed.stdout.strip()


_FRAMEWORKS = ("tensorflow", "jax", "torch")
ROOT = Path(__file__).resolve().parent.parent


def _installed(framework: str) -> bool:
    return importlib.util.find_spec(framework) is not None


@pytest.mark.parametrize("backend", _FRAMEWORKS)
def test_import_loads_no_framework_beyond_what_keras_loads(backend):
    if not _installed(backend):
        # Each extra ([tensorflow], [jax], [torch]) installs one framework; Keras cannot
        # start on a backend whose framework is absent, so there is nothing to compare.
        pytest.skip(f"{backend} is not installed (pip install -e '.[{backend}]' adds it)")

    def loaded_after(imports: str) -> str:
        listing = f"print(sorted(m for m in {_FRAMEWORKS!r} if m in sys.modules))"
        return _run(f"import sys, {imports}; {listing}", KERAS_BACKEND=backend)

    by_keras = loaded_after("keras")
    by_kerasnotes = loaded_after("keras, kerasnotes, kerasnotes.callbacks, kerasnotes.curvature")
    assert by_kerasnotes == by_keras


def test_mapped_subpackages_live_in_their_top_level_folders():
    import kerasnotes
    import kerasnotes.callbacks
    import kerasnotes.tensorboard_plugins

    if Path(kerasnotes.__file__).resolve().parent != ROOT / "kerasnotes":
        pytest.skip("kerasnotes is installed from elsewhere (a wheel): no source folders to check")
    # Compared as whole paths below the clone, so a clone in a folder named
    # "kerasnotes" (git's default) or "callbacks" passes as well.
    assert Path(kerasnotes.callbacks.__file__).resolve() == ROOT / "callbacks" / "__init__.py"
    plugins = Path(kerasnotes.tensorboard_plugins.__file__).resolve()
    assert plugins == ROOT / "tensorboard_plugins" / "__init__.py"
    assert kerasnotes.tensorboard_plugins.__name__ == "kerasnotes.tensorboard_plugins"


def test_no_top_level_callbacks_module_is_installed():
    dist = metadata.distribution("kerasnotes")
    top_level = {name.split(".")[0] for name in (dist.read_text("top_level.txt") or "").split()}
    assert top_level <= {"kerasnotes"}


def test_console_script_and_module_entry_agree():
    scripts = {ep.name: ep.value for ep in metadata.entry_points(group="console_scripts")}
    assert scripts["kerasnotes"] == "kerasnotes.cli:main"
    out = subprocess.run(
        [sys.executable, "-m", "kerasnotes", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "tour" in out


def test_tensorboard_entry_point_is_a_loader_that_imports_only_tensorboard():
    from tensorboard.plugins import base_plugin

    (entry,) = [
        ep for ep in metadata.entry_points(group="tensorboard_plugins") if ep.name == "kerasnotes"
    ]
    loaded = _run(
        f"import sys; import {entry.module};"
        "print(','.join(m for m in ('keras', 'numpy', 'tensorflow', 'jax', 'torch') if m in sys.modules))"
    )
    # tensorboard itself may import numpy; never keras or a framework
    assert not ({"keras", "tensorflow", "jax", "torch"} & set(filter(None, loaded.split(","))))
    assert issubclass(entry.load(), base_plugin.TBLoader)


def test_loader_skips_a_plugin_that_fails_to_load(monkeypatch, caplog):
    from tensorboard.plugins import base_plugin

    from kerasnotes.tensorboard_plugins import entry

    monkeypatch.setattr(entry, "PLUGIN_MODULE", "kerasnotes.no_such_module")
    context = base_plugin.TBContext(logdir="unused")
    assert entry.KerasNotesLoader().load(context) is None
    assert "failed to load" in caplog.text


def test_every_package_folder_is_declared_for_a_regular_install():
    """A wheel holds only the packages pyproject names; editable installs hide a missing one."""
    import tomllib

    root = ROOT
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {package: root / folder for package, folder in config["package-dir"].items()}
    declared = set(config["packages"])
    found = {
        ".".join((package, *init.parent.relative_to(folder).parts))
        for package, folder in folders.items()
        for init in folder.rglob("__init__.py")
    }
    assert found == declared


def test_only_the_backends_package_imports_a_framework():
    """DESIGN: backend-specific code lives in exactly one place, ``kerasnotes/backends/``."""
    import ast

    backends = ROOT / "kerasnotes" / "backends"
    sources = [
        path
        for folder in ("kerasnotes", "callbacks", "tensorboard_plugins")
        for path in (ROOT / folder).rglob("*.py")
    ]
    offenders, in_backends = [], set()
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots = {node.module.split(".")[0]}
            else:
                continue
            for framework in roots & set(_FRAMEWORKS):
                if backends in path.parents:
                    in_backends.add(framework)
                else:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {framework}")
    assert offenders == []
    # The scan sees the imports it is meant to see: each framework's own module has one.
    assert in_backends == set(_FRAMEWORKS)
