"""The ``trustaudit`` subcommands, one module each.

Every module here defines ``NAME`` (the subcommand), ``HELP`` (one line for ``trustaudit --help``),
``ORDER`` (its place in that list), ``add_arguments(parser)`` and ``main(args) -> int`` (the exit
code). :func:`command_modules` finds them, so adding a subcommand is adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil


def command_modules() -> list:
    """The subcommand modules, in ``ORDER``."""
    modules = [importlib.import_module(f"{__name__}.{info.name}") for info in pkgutil.iter_modules(__path__)
               if not info.name.startswith("_")]
    return sorted(modules, key=lambda module: (module.ORDER, module.NAME))
