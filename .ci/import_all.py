"""Import every kerasnotes module that the installed extra can import (CI's smoke check).

Modules of ``kerasnotes.backends`` for frameworks other than the active Keras backend are
left out: they import their own framework, which a single extra does not install.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import keras

import kerasnotes
import kerasnotes.callbacks
import kerasnotes.tensorboard_plugins

FRAMEWORKS = ("tensorflow", "jax", "torch")


def main() -> int:
    active = keras.backend.backend()
    names = ["kerasnotes"]
    for package in (kerasnotes, kerasnotes.callbacks, kerasnotes.tensorboard_plugins):
        names.append(package.__name__)
        names += [
            info.name for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
        ]
    imported = 0
    for name in sorted(set(names)):
        package, _, leaf = name.rpartition(".")
        framework = leaf.split("_")[0]
        if name.endswith("__main__") or (
            package == "kerasnotes.backends" and framework in FRAMEWORKS and framework != active
        ):
            continue
        importlib.import_module(name)
        imported += 1
    others = sorted(m for m in FRAMEWORKS if m != active and m in sys.modules)
    print(f"imported {imported} modules on {active}; other frameworks loaded: {others or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
