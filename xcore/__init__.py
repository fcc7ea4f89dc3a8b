"""XCore: a FastAPI host whose features and service backends arrive as pip-installed plugins.

The public surface: this package (``Xcore``, ``hookimpl``, ``load_config``), :mod:`xcore.sdk` for
plugin authors, :mod:`xcore.backends` for service backend authors, :mod:`xcore.web` for applications
that serve or embed a host, :mod:`xcore.testing` for tests. Every other module is the implementation
and private by name (a leading underscore): it may change in any release.
"""

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from xcore._hookspecs import hookimpl

if TYPE_CHECKING:
    from xcore._config import load_config
    from xcore._host.facade import Xcore

try:
    __version__ = version("xcore-host")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = ["TrustedBase", "Xcore", "__version__", "action", "error", "hookimpl", "load_config", "ok"]

_SDK_NAMES = frozenset({"TrustedBase", "action", "error", "ok"})


def __getattr__(name: str) -> object:
    """``Xcore`` and the original XCore's spelling of ``xcore.sdk``'s names (``from xcore import
    TrustedBase, ok, error``), resolved on first use so ``import xcore._services`` (a backend) does not
    load FastAPI."""
    if name == "Xcore":
        from xcore._host.facade import Xcore

        return Xcore
    if name == "load_config":
        from xcore._config import load_config

        return load_config
    if name in _SDK_NAMES:
        from xcore import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'xcore' has no attribute {name!r}")
