"""Imports a user's module so that what it registers (strategies) exists before a search.

The CLI imports the modules named by `keras-nas search --plugin` and a config's
`plugins:`; in Python, importing the module yourself does the same.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType


class PluginNotFoundError(ValueError):
    """A plugin names a `.py` file that does not exist or a module that cannot be found."""


def import_plugin(plugin: str, base: str | Path = ".") -> ModuleType:
    """Imports a plugin: a `.py` file or the dotted name of an importable module.

    A file is imported once per process (as module
    `keras_nas_plugin_<name>_<hash of its path>`), so a plugin named twice
    registers its strategies once.

    Args:
        plugin: A path ending in `.py` (relative paths start at `base`) or a
            module name such as `my_package.strategies`.
        base: The folder relative file paths start from.

    Returns:
        The imported module.

    Raises:
        PluginNotFoundError: If the file does not exist or the module
            cannot be found, naming the plugin and how to fix it.
        ValueError: For a plugin that is not a non-empty string. Errors
            raised by the plugin's own code propagate unchanged.

    Example:

    ```python
    import_plugin("my_strategies.py")  # registers what the file registers
    NASModel(strategy="my-strategy")
    ```
    """
    if not isinstance(plugin, str) or not plugin.strip():
        raise ValueError(f"A plugin is a .py file or a module name (a non-empty string), got {plugin!r}.")
    if not plugin.endswith(".py"):
        try:
            return importlib.import_module(plugin)
        except ModuleNotFoundError as e:
            if e.name is None or not (plugin == e.name or plugin.startswith(e.name + ".")):
                raise  # the plugin exists; something it imports does not
            raise PluginNotFoundError(
                f"Cannot import plugin {plugin!r}: no module named {e.name!r}. Give the path of a .py "
                "file (ending in .py), or install the module or add its folder to PYTHONPATH."
            ) from None
    path = (Path(base) / plugin).resolve()
    if not path.is_file():
        raise PluginNotFoundError(f"Plugin file {str(path)!r} does not exist (plugin {plugin!r}, relative to {str(base)!r}).")
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:10]
    name = f"keras_nas_plugin_{''.join(c if c.isalnum() else '_' for c in path.stem)}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
