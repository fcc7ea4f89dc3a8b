"""XCore: a FastAPI host whose features and service backends arrive as pip-installed plugins."""

from importlib.metadata import PackageNotFoundError, version

from xcore.hookspecs import hookimpl
from xcore.host import Xcore

try:
    __version__ = version("xcore-host")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = ["TrustedBase", "Xcore", "__version__", "action", "error", "hookimpl", "ok"]

_SDK_NAMES = frozenset({"TrustedBase", "action", "error", "ok"})


def __getattr__(name: str) -> object:
    """``from xcore import TrustedBase, ok, error``: the original XCore's spelling of ``xcore.sdk``'s
    names, resolved on first use so ``import xcore`` stays as light as it was."""
    if name in _SDK_NAMES:
        from xcore import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'xcore' has no attribute {name!r}")
