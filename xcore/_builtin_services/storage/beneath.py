"""Paths opened beneath a directory descriptor, never through a symbolic link.

Checking a path (``lstat`` each part) and then opening it by name is a race: between the two, a
folder can be swapped for a link to ``/etc``. Here every step is relative to the descriptor of the
folder opened one step before, with ``O_NOFOLLOW``: a component that is a link at the moment it is
opened fails the open itself, so whatever the path looked like a moment earlier, the file reached is
beneath the starting folder. (Linux's ``openat2(RESOLVE_BENEATH)`` does the walk in one call, but
Python 3.11 does not expose it; the per-component walk works on every POSIX system.)

Callers own the descriptors these functions return and close them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterator, Sequence

from xcore._errors import XcoreError

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
"""``O_NONBLOCK``: opening a FIFO planted in the folder returns at once instead of waiting for a writer
(the caller then refuses anything that is not a regular file)."""
CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class SymlinkRefused(XcoreError, OSError):
    """A component of the path is a symbolic link; links are never followed, wherever they point."""

    def __init__(self, name: str) -> None:
        super().__init__(errno.ELOOP, "is a symbolic link", name)


def is_link(name: str, dir_fd: int) -> bool:
    """Whether ``name`` in the folder ``dir_fd`` is a symbolic link right now (for error messages)."""
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def open_dir(name: str, dir_fd: int) -> int:
    """The folder ``name`` inside ``dir_fd``; :class:`SymlinkRefused` if it is a link.

    ``NotADirectoryError`` if it is a file, ``FileNotFoundError`` if it is missing.
    """
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        # Linux answers ENOTDIR for O_DIRECTORY|O_NOFOLLOW on a link, other systems ELOOP
        if exc.errno in (errno.ENOTDIR, errno.ELOOP) and is_link(name, dir_fd):
            raise SymlinkRefused(name) from None
        raise


def open_folder(root_fd: int, parts: Sequence[str], *, create: bool = False) -> int:
    """The folder ``root/parts[0]/parts[1]/...``, walked one component at a time without links.

    With ``create``, missing folders are made (``mkdir`` relative to their parent's descriptor). An
    empty ``parts`` returns a duplicate of ``root_fd``, so the caller always closes what it gets.
    """
    current = os.dup(root_fd)
    try:
        for part in parts:
            try:
                child = open_dir(part, current)
            except FileNotFoundError:
                if not create:
                    raise
                # FileExistsError: made by a concurrent writer a moment ago; the open below checks it
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, dir_fd=current)
                child = open_dir(part, current)
            os.close(current)
            current = child
    except BaseException:
        os.close(current)
        raise
    return current


def entry_kind(name: str, dir_fd: int) -> str | None:
    """``"file"``, ``"dir"``, ``"link"`` or ``"other"`` for ``name`` in ``dir_fd`` (not following it);
    ``None`` if it does not exist."""
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "link"
    return "other"


def walk_files(
    dir_fd: int, base: str, descend: Callable[[str], bool], max_depth: int
) -> Iterator[tuple[int, str, str]]:
    """``(folder_fd, folder_key, name)`` for every regular file beneath ``dir_fd``, links skipped.

    ``base`` is the key prefix of ``dir_fd`` (``""`` or ``"a/b/"``); a subfolder is entered only if
    ``descend(its_key_prefix)`` and the depth stays within ``max_depth`` (keys are bounded in length,
    so nothing deeper can hold an object). Each subfolder is opened with ``O_NOFOLLOW`` relative to
    its parent: a folder swapped for a link during the walk is skipped, not entered.
    """
    with os.scandir(dir_fd) as entries:
        found = list(entries)
    for entry in found:
        if entry.is_file(follow_symlinks=False):
            yield dir_fd, base, entry.name
        elif entry.is_dir(follow_symlinks=False) and max_depth > 0:
            folder = f"{base}{entry.name}/"
            if not descend(folder):
                continue
            try:
                child = open_dir(entry.name, dir_fd)
            except OSError:
                continue  # removed, or replaced by a link or a file, since it was listed
            try:
                yield from walk_files(child, folder, descend, max_depth - 1)
            finally:
                os.close(child)
