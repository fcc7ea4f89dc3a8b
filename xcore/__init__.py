"""XCore: a FastAPI host whose features and service backends arrive as pip-installed plugins."""

from importlib.metadata import PackageNotFoundError, version

from xcore.hookspecs import hookimpl
from xcore.host import Xcore

try:
    __version__ = version("xcore-host")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = ["Xcore", "__version__", "hookimpl"]
