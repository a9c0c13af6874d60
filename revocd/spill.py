"""Temporary files for the big things that cross processes: a CRL for the workers to walk,
the parts they walked, an index for the sticky diff or for a replica.

Writing a file, and reading it back with one `read`, copies in the kernel with the GIL
free; pickling 30 MB holds the GIL (and stalls serving) for tens of milliseconds.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import tempfile
from collections.abc import Iterable, Iterator

from revocd.der import ReadOnlyBytes
from revocd.revoked import RevokedIndex

# An index file: its header, zeros up to this boundary, then the records, so that the
# records alone can be mapped (a mapping starts on a multiple of it).
_RECORDS_ALIGN = mmap.ALLOCATIONGRANULARITY


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
        prefix="revocd-index-",
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
