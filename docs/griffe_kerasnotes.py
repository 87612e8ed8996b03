"""Griffe extension: how kerasnotes's sources map onto what users import and read.

- ``pyproject.toml`` maps ``kerasnotes.callbacks`` to ``callbacks/`` and
  ``kerasnotes.tensorboard_plugins`` to ``tensorboard_plugins/`` (setuptools
  ``package-dir``). Griffe reads ``kerasnotes/`` from source and does not know
  that mapping, so this extension loads each folder as the submodule of
  ``kerasnotes`` it is installed as.
- Some packages export names lazily (``kerasnotes.curvature``'s ``__getattr__``
  imports ``HessianProbe`` from its submodule on first use). Griffe reads source
  and sees only ``__all__``; the extension points each exported name that no
  import defines at the object of that name in one of the package's submodules,
  so the reference shows it where users import it.
- The docstrings head their doctests ``Example:`` (singular). Griffe's Google
  parser reads only ``Examples:`` as the section whose ``>>>`` lines are code;
  under ``Example:`` they would be markdown prose (``[:3]`` a broken link). The
  extension renames the heading in the text griffe parses, not in the source.

``mkdocs.yml`` lists it under the Python handler's ``extensions``.
"""

from __future__ import annotations

import re
from pathlib import Path

import griffe

ROOT = Path(__file__).resolve().parent.parent

#: Submodule name -> folder, as in pyproject.toml's [tool.setuptools.package-dir].
PACKAGE_DIR = {"callbacks": ROOT / "callbacks", "tensorboard_plugins": ROOT / "tensorboard_plugins"}

_EXAMPLE_HEADING = re.compile(r"^(\s*)Example:[ \t]*$", re.MULTILINE)


class KerasnotesSources(griffe.Extension):
    """Attach the mapped folders to ``kerasnotes``; read ``Example:`` as ``Examples:``."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE_HEADING.sub(r"\1Examples:", obj.docstring.value)

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs) -> None:
        if pkg.name != "kerasnotes":
            return
        for name, folder in PACKAGE_DIR.items():
            if name not in pkg.members:
                # The loader's own module loading, with the package as parent, so the
                # objects' paths are kerasnotes.callbacks.* as users import them.
                module = loader._load_module(name, folder / "__init__.py", parent=pkg)
                pkg.set_member(name, module)
        _alias_lazy_exports(pkg)


def _modules(module: griffe.Module):
    yield module
    for member in module.members.values():
        if not member.is_alias and member.is_module:
            yield from _modules(member)


def _alias_lazy_exports(package: griffe.Module) -> None:
    for module in list(_modules(package)):
        for name in module.exports or ():
            if not isinstance(name, str) or name in module.members:
                continue
            homes = [
                sub.members[name]
                for sub in _modules(module)
                if sub is not module and name in sub.members and not sub.members[name].is_alias
            ]
            if homes:
                module.set_member(name, griffe.Alias(name, homes[0], parent=module))
