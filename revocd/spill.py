"""Temporary files for the big things that cross processes: a CRL for the workers to walk,
the parts they walked, an index for the sticky diff or for a replica.

Writing a file, and reading it back with one `read`, copies in the kernel with the GIL
free; pickling 30 MB holds the GIL (and stalls serving) for tens of milliseconds.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable

from revocd.revoked import RevokedIndex


def spill(
    chunks: Iterable[bytes], *, prefix: str, suffix: str = "", folder: str | None = None
) -> str:
    """`chunks` written one after the other to a new temporary file; its path."""
    with tempfile.NamedTemporaryFile(
        prefix=prefix, suffix=suffix, dir=folder, delete=False
    ) as file:
        for chunk in chunks:
            file.write(chunk)
        return file.name


def spill_index(index: RevokedIndex, folder: str | None = None) -> str:
    return spill(
        (index.header(), index.blob), prefix="revocd-index-", suffix=".index", folder=folder
    )


def load_index(path: str) -> RevokedIndex:
    with open(path, "rb") as file:
        return RevokedIndex.read_from(file)


def remove(*paths: str) -> None:
    """Delete the files that exist of `paths`."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
