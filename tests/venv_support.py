"""Throwaway virtualenvs that see this test run's packages, whether the run is in a venv or not.

``python -m venv --system-site-packages`` run from *inside* a virtualenv sees the base Python's
site-packages, not the outer venv's: XCore, ``wheel`` and the test tools would be missing, and
whatever else the base Python holds (another XCore checkout, say) would be seen instead. So the
nested venv is made from the base interpreter (``sys._base_executable``) without system site
packages, and a ``.pth`` file adds exactly this interpreter's site directories after its own. ``site.addsitedir`` also
runs the ``.pth`` files found there, so editable installs (``pip install -e``) are seen as well.
Packages installed into the nested venv come first on its path; uninstalling them leaves this
environment untouched. In the system Python the extra directories are already on the path and
these are the system's site directories.
"""

from __future__ import annotations

import site
import subprocess
import sys
import sysconfig
from pathlib import Path

PTH_NAME = "_xcore_outer_environment.pth"


def outer_site_dirs() -> list[str]:
    """This interpreter's site-packages (the venv's when in one), user site included when enabled."""
    dirs = [*site.getsitepackages(), sysconfig.get_path("purelib"), sysconfig.get_path("platlib")]
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return list(dict.fromkeys(d for d in dirs if Path(d).is_dir()))


def nested_venv(folder: Path, timeout: float = 120) -> Path:
    """Create a venv without pip of its own in ``folder``; return its Python.

    It sees everything this interpreter sees (pip too: ``python -m pip`` works in it), and
    installs go into its own site-packages.
    """
    base = getattr(sys, "_base_executable", None) or sys.executable
    subprocess.run([base, "-m", "venv", "--without-pip", str(folder)], check=True, capture_output=True, timeout=timeout)
    python = folder / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout,
    ).stdout.strip()
    lines = "; ".join(f"site.addsitedir({d!r})" for d in outer_site_dirs())
    (Path(purelib) / PTH_NAME).write_text(f"import site; {lines}\n")
    return python
