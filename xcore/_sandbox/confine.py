"""The operating-system walls a worker puts up around itself before it imports the plugin.

Order matters, and each step says what it protects against:

1. **Privileges** (host running as root): a new mount namespace in which directories the
   unprivileged user cannot traverse (``/root`` holding the interpreter, a 0700 temporary folder)
   are replaced by an empty tmpfs with only the needed code and data bind-mounted back; then
   ``setgroups([])``, ``setgid``/``setuid`` to ``nobody``, so root-owned files (``/etc/shadow``)
   are refused by plain permissions even where Landlock is missing.
2. **Network**: ``unshare(CLONE_NEWUSER | CLONE_NEWNET)``: a network namespace with only a downed
   loopback, so no socket reaches the host's services (Redis, PostgreSQL) or the outside.
3. **Resources**: rlimits on address space, CPU seconds, open files, processes (counted per user
   namespace, which bounds a fork bomb), core dumps; ``PR_SET_NO_NEW_PRIVS`` so no setuid binary
   gives anything back.
4. **Filesystem**: Landlock, read-only on code, read-write on the plugin's own folder, nothing else;
   TCP bind/connect refused and signals scoped to the sandbox.

Each step that the platform lacks is reported as inactive (never silently assumed); the host
refuses to start a plugin whose ``sandbox.require`` names an inactive protection.
"""

from __future__ import annotations

import ctypes
import os
import resource
import stat
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from xcore._sandbox import landlock

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
PR_SET_NO_NEW_PRIVS = 38
PR_SET_DUMPABLE = 4
NOBODY = 65534

PROTECTIONS = ("privileges", "network", "filesystem", "limits", "no_new_privs")
"""Every protection a worker reports, by the name ``sandbox.require`` uses."""

_libc = ctypes.CDLL(None, use_errno=True)


@dataclass
class Walls:
    """What the worker must confine itself to (sent by the host in the bootstrap frame)."""

    read_only: list[str]
    data_dir: str
    memory_mb: int | None = None
    cpu_seconds: int | None = None
    open_files: int = 64
    processes: int = 32
    egress_port: int | None = None
    """When hosts are granted: the loopback port of the worker's egress proxy (see :mod:`.egress`)."""
    active: dict[str, str] = field(default_factory=dict)
    """Protection name -> how it is enforced; filled as each wall goes up."""
    missing: dict[str, str] = field(default_factory=dict)
    """Protection name -> why it is not active here."""


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def build(walls: Walls) -> Walls:
    """Put up every wall the platform offers; record what is active and what is missing."""
    if not sys.platform.startswith("linux"):
        for name in PROTECTIONS:
            walls.missing[name] = f"not enforced on {sys.platform}"
        return walls
    _drop_privileges(walls)
    _isolate_network(walls)
    _limit_resources(walls)
    _no_new_privs(walls)
    _landlock(walls)
    return walls


def _blocked_ancestor(path: str) -> str | None:
    """The highest directory above ``path`` that ``nobody`` cannot traverse, if any."""
    parts = os.path.realpath(path).split(os.sep)
    current = os.sep
    for part in parts[1:-1]:  # the path itself needs no traversal, only its ancestors
        current = os.path.join(current, part)
        try:
            mode = os.stat(current).st_mode
        except OSError:
            return None
        if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
            return current
    return None


def _reveal(needed: Iterable[str]) -> None:
    """In a private mount namespace, cover untraversable directories with a tmpfs holding only
    bind mounts of the ``needed`` paths below them."""
    by_cover: dict[str, list[str]] = {}
    for path in needed:
        real = os.path.realpath(path)
        cover = _blocked_ancestor(real)
        if cover is not None and os.path.exists(real):
            by_cover.setdefault(cover, []).append(real)
    if not by_cover:
        return
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    for cover, paths in sorted(by_cover.items(), key=lambda item: len(item[0])):
        paths = [p for p in paths if not any(p != q and p.startswith(q + os.sep) for q in paths)]
        fds = [(p, os.open(p, os.O_PATH | os.O_CLOEXEC)) for p in paths]
        _check(_libc.mount(b"tmpfs", cover.encode(), b"tmpfs", 0, b"mode=0755"), f"mount tmpfs on {cover}")
        for path, fd in fds:
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                os.makedirs(path, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                open(path, "a").close()
            _check(
                _libc.mount(f"/proc/self/fd/{fd}".encode(), path.encode(), None, MS_BIND | MS_REC, None), f"bind {path}"
            )
            os.close(fd)


def _drop_privileges(walls: Walls) -> None:
    if os.geteuid() != 0:
        walls.active["privileges"] = f"runs as uid {os.geteuid()} (not root)"
        return
    try:
        _reveal([*walls.read_only, walls.data_dir])
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)
    except OSError as exc:
        walls.missing["privileges"] = f"could not drop root: {exc}"
        return
    walls.active["privileges"] = "root dropped to uid/gid 65534 (nobody), no supplementary groups"


def _isolate_network(walls: Walls) -> None:
    try:
        _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNET), "unshare(CLONE_NEWUSER|CLONE_NEWNET)")
    except OSError as exc:
        walls.missing["network"] = f"no network namespace: {exc}"
        return
    if walls.egress_port is None:
        walls.active["network"] = "own user and network namespace (no interface up)"
        return
    try:
        _loopback_up()
    except OSError as exc:
        walls.missing["network"] = f"could not bring up the namespace's loopback for the egress proxy: {exc}"
        return
    walls.active["network"] = (
        f"own user and network namespace; granted hosts only, through the host's egress "
        f"proxy (loopback port {walls.egress_port})"
    )


def _loopback_up() -> None:
    """``ip link set lo up`` inside the new namespace (the worker holds CAP_NET_ADMIN there only)."""
    import fcntl
    import socket
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock.fileno(), siocgifflags, request))[1]
        fcntl.ioctl(sock.fileno(), siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))


def _limit_resources(walls: Walls) -> None:
    limits: list[tuple[int, int]] = [
        (resource.RLIMIT_NOFILE, walls.open_files),
        (resource.RLIMIT_NPROC, walls.processes),
        (resource.RLIMIT_CORE, 0),
    ]
    if walls.memory_mb is not None:
        limits.append((resource.RLIMIT_AS, walls.memory_mb * 1024 * 1024))
    if walls.cpu_seconds is not None:
        used = resource.getrusage(resource.RUSAGE_SELF)
        # The worker raises the soft limit by the per-call budget at each call (see worker.CpuBudget).
        soft = int(used.ru_utime + used.ru_stime) + walls.cpu_seconds + 1
        limits.append((resource.RLIMIT_CPU, soft))
    try:
        for which, value in limits:
            if which == resource.RLIMIT_CPU:
                resource.setrlimit(which, (value, resource.RLIM_INFINITY))
            else:
                resource.setrlimit(which, (value, value))
    except (OSError, ValueError) as exc:
        walls.missing["limits"] = f"rlimits: {exc}"
        return
    shown = [f"open_files={walls.open_files}", f"processes={walls.processes}"]
    if walls.memory_mb is not None:
        shown.append(f"memory_mb={walls.memory_mb}")
    if walls.cpu_seconds is not None:
        shown.append(f"cpu_seconds_per_call={walls.cpu_seconds}")
    walls.active["limits"] = "rlimits " + " ".join(shown)


def _no_new_privs(walls: Walls) -> None:
    try:
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
        _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # no ptrace or /proc/<pid>/mem from other processes
    except OSError as exc:
        walls.missing["no_new_privs"] = str(exc)
        return
    walls.active["no_new_privs"] = "PR_SET_NO_NEW_PRIVS set"


def _landlock(walls: Walls) -> None:
    try:
        ports = [walls.egress_port] if walls.egress_port is not None else []
        abi = landlock.restrict([*walls.read_only, "/dev/null", "/dev/urandom"], [walls.data_dir], ports)
    except OSError as exc:
        walls.missing["filesystem"] = f"Landlock unavailable: {exc}"
        return
    walls.active["filesystem"] = f"Landlock ABI {abi}: read-only code, read-write {walls.data_dir} only"


def code_paths() -> list[str]:
    """The directories the worker's own interpreter and libraries are read from."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    paths.update(p for p in sys.path if p and os.path.isdir(p))
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file and "." not in module.__name__:
            paths.add(os.path.dirname(os.path.realpath(file)))
    paths.update(("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/local/lib"))
    return sorted(p for p in paths if os.path.exists(p))


def refusal(walls: Walls, require: Iterable[str]) -> str | None:
    """Why the plugin must not start (``sandbox.require`` names an inactive protection), else ``None``."""
    missing = [p for p in require if p not in walls.active]
    if not missing:
        return None
    return "required protections are not active: " + "; ".join(
        f"{p}: {walls.missing.get(p, 'inactive')}" for p in missing
    )


def as_report(walls: Walls) -> dict[str, Any]:
    return {"active": dict(walls.active), "missing": dict(walls.missing)}
