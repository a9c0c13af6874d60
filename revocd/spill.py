"""Temporary files for the big things that cross processes: a CRL for the workers to walk,
the parts they walked, an index for the sticky diff or for a replica.

Writing a file, and reading it back with one `read`, copies in the kernel with the GIL
free; pickling 30 MB holds the GIL (and stalls serving) for tens of milliseconds.

Every such name starts with ``revocd-<pid>.<start>.<namespace>-`` (`temporary_prefix`):
the process that made it, when that process started, and its pid namespace. A daemon
killed mid-ingest (SIGKILL, the OOM killer) cannot remove its files, up to a CRL's size
each; the next daemon to start removes them (`remove_leftovers`), and never those of a
daemon still running.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator

from revocd.der import ReadOnlyBytes
from revocd.revoked import RevokedIndex

# An index file: its header, zeros up to this boundary, then the records, so that the
# records alone can be mapped (a mapping starts on a multiple of it).
_RECORDS_ALIGN = mmap.ALLOCATIONGRANULARITY
_OWNED = re.compile(r"revocd-(\d+)\.(\d+)\.(\d+)-")


def spill(
    chunks: Iterable[ReadOnlyBytes], *, prefix: str, suffix: str = "", folder: str | None = None
) -> str:
    """`chunks` written one after the other to a new temporary file; its path."""
    with tempfile.NamedTemporaryFile(
        prefix=prefix, suffix=suffix, dir=folder, delete=False
    ) as file:
        for chunk in chunks:
            file.write(chunk)
        return file.name


def spill_index(index: RevokedIndex, folder: str | None = None) -> str:
    header = index.header()
    return spill(
        (header, bytes(_records_offset(header) - len(header)), index.blob),
        prefix=temporary_prefix("index"),
        suffix=".index",
        folder=folder,
    )


def load_index(path: str) -> RevokedIndex:
    """The index in a file `spill_index` wrote, read into memory."""
    with open(path, "rb") as file:
        header = RevokedIndex.read_header(file)
        file.seek(_records_offset(header))
        return RevokedIndex.from_parts(header, file.read())


@contextlib.contextmanager
def mapped_file(path: str) -> Iterator[mmap.mmap]:
    """The file at `path` mapped read-only: its pages come from the page cache as they are
    touched, where reading it would fill as much fresh memory. Usable only inside the
    `with` block."""
    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        yield data


@contextlib.contextmanager
def mapped_index(path: str) -> Iterator[RevokedIndex]:
    """The index in a file `spill_index` wrote, its records mapped read-only rather than
    read: they come from the page cache as they are touched, not as fresh memory. Usable
    only inside the `with` block."""
    with open(path, "rb") as file:
        header = RevokedIndex.read_header(file)
        offset = _records_offset(header)
        if os.fstat(file.fileno()).st_size <= offset:  # no records: nothing to map
            yield RevokedIndex.from_parts(header, b"")
            return
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ, offset=offset) as records:
            yield RevokedIndex.from_parts(header, records)


def _records_offset(header: bytes) -> int:
    return -(-len(header) // _RECORDS_ALIGN) * _RECORDS_ALIGN


def remove(*paths: str) -> None:
    """Delete the files that exist of `paths`."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def temporary_prefix(kind: str) -> str:
    """``revocd-<pid>.<start>.<namespace>-<kind>-``: the start of the name of a temporary
    file or folder this process makes. The start time tells a reused pid apart (in a
    container, every daemon is pid 1); the pid namespace, a process whose pid means
    nothing here (a container sharing this directory)."""
    pid = os.getpid()
    return f"revocd-{pid}.{_start_time(pid) or 0}.{_pid_namespace()}-{kind}-"


def remove_leftovers(folder: str | None = None) -> list[str]:
    """Remove the temporary files and folders in `folder` (default: the system's temporary
    directory) that a revocd process made and that process is gone; their paths. Only
    this user's: in a shared /tmp, another user's names are theirs to keep."""
    root = folder or tempfile.gettempdir()
    try:
        names = os.listdir(root)
    except OSError:
        return []
    removed = []
    for name in names:
        match = _OWNED.match(name)
        if match is None or _running(int(match[1]), int(match[2]), int(match[3])):
            continue
        path = os.path.join(root, name)
        try:
            if os.lstat(path).st_uid != os.getuid():
                continue
        except OSError:
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            remove(path)
        removed.append(path)
    return removed


def _running(pid: int, start: int, namespace: int) -> bool:
    """Whether the process that started as `pid` at `start` still runs (or may: one of
    another pid namespace cannot be looked up from here, so it counts as running)."""
    if namespace != _pid_namespace():
        return True
    now = _start_time(pid)
    if now is not None or os.path.isdir("/proc/self"):
        return now == start
    try:  # no /proc: the pid alone
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_time(pid: int) -> int | None:
    """When `pid` started (clock ticks since boot, from Linux's /proc), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read()
    except OSError:
        return None
    return int(stat[stat.rindex(b")") + 2 :].split()[19])


def _pid_namespace() -> int:
    """This process's pid namespace (its inode number; 0 without Linux's /proc)."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0
