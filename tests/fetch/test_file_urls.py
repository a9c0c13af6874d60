"""file: URLs: read with the same cap, off the loop; an unchanged file costs no read."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from revocd.errors import FetchError
from revocd.fetch.transport import FetchResult, Transport
from revocd.store.base import Validators

CAP = 64 * 1024
CRL = b"\x30\x82\x13\x88" + bytes(range(256)) * 20


async def get(transport: Transport, url: str, validators: Validators | None = None) -> FetchResult:
    return await transport.get(
        url, max_bytes=CAP, timeout=timedelta(seconds=5), validators=validators
    )


@pytest.fixture
def crl_file(tmp_path: Path) -> Path:
    path = tmp_path / "mirror" / "issuing.crl"
    path.parent.mkdir()
    path.write_bytes(CRL)
    return path


async def test_a_file_is_read_whole(transport, crl_file):
    result = await get(transport, crl_file.as_uri())
    assert result.body == CRL
    assert result.status == 200
    assert result.url == result.final_url == crl_file.as_uri()
    assert result.validators.etag is not None
    assert result.content_type is None


def _touch(path: Path, mtime_ns: int) -> None:
    os.utime(path, ns=(mtime_ns, mtime_ns))


def _rewrite_keeping_mtime(path: Path) -> None:
    mtime_ns = path.stat().st_mtime_ns
    path.write_bytes(CRL[::-1])
    _touch(path, mtime_ns)


@pytest.mark.parametrize(
    ("change", "modified"),
    [
        pytest.param(lambda p: None, False, id="untouched"),
        pytest.param(lambda p: _touch(p, 10**18), True, id="new-mtime"),
        pytest.param(lambda p: p.write_bytes(CRL + b"x"), True, id="new-size"),
        pytest.param(_rewrite_keeping_mtime, False, id="same-mtime-and-size-rewritten"),
    ],
)
async def test_an_unchanged_file_is_not_read_again(transport, crl_file, change, modified):
    first = await get(transport, crl_file.as_uri())
    _touch(crl_file, crl_file.stat().st_mtime_ns)  # pin mtime so the cases are exact
    first = await get(transport, crl_file.as_uri())
    change(crl_file)
    again = await get(transport, crl_file.as_uri(), validators=first.validators)
    if modified:
        assert again.body == crl_file.read_bytes()
        assert again.validators != first.validators
    else:
        # mtime and size are the validators: a same-size rewrite that keeps the mtime is
        # invisible, as with an HTTP server that keeps its ETag
        assert (again.body, again.status) == (None, 304)
        assert again.validators == first.validators


@pytest.mark.parametrize(
    ("size", "refusal"),
    [
        pytest.param(CAP, None, id="exactly-at-the-cap"),
        pytest.param(CAP + 1, "the file is 64.0 KiB", id="one-over"),
    ],
)
async def test_the_cap_applies_to_files(transport, tmp_path, size, refusal):
    path = tmp_path / "issuing.crl"
    path.write_bytes(bytes(size))
    if refusal is None:
        assert (await get(transport, path.as_uri())).body == bytes(size)
        return
    with pytest.raises(FetchError) as caught:
        await get(transport, path.as_uri())
    assert caught.value.kind == "oversize"
    assert f"max_crl_bytes 64 KiB ({refusal})" in str(caught.value)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
async def test_a_file_that_never_ends_is_cut_at_the_cap(transport):
    """A device reports size 0 and never ends: reading stops one byte past the cap."""
    with pytest.raises(FetchError) as caught:
        await get(transport, "file:///dev/zero")
    assert caught.value.kind == "oversize"
    assert "read 64.0 KiB and stopped" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "kind", "words"),
    [
        pytest.param("missing.crl", "file_error", "No such file or directory", id="missing"),
        pytest.param("", "file_error", "Is a directory", id="directory"),
    ],
)
async def test_unreadable_files_are_named(transport, tmp_path, name, kind, words):
    url = (tmp_path / name).as_uri() if name else tmp_path.as_uri()
    with pytest.raises(FetchError) as caught:
        await get(transport, url)
    assert caught.value.kind == kind
    assert words in str(caught.value)
    assert "check the path" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        pytest.param("file://pki.partner.example/issuing.crl", "must be local", id="remote-host"),
        pytest.param("file:issuing.crl", "must be absolute", id="relative"),
    ],
)
async def test_file_urls_must_be_local_and_absolute(transport, url, words):
    with pytest.raises(FetchError) as caught:
        await get(transport, url)
    assert caught.value.kind == "bad_url"
    assert words in str(caught.value)


async def test_localhost_and_escaped_paths(transport, tmp_path):
    path = tmp_path / "with space.crl"
    path.write_bytes(CRL)
    url = "file://localhost" + path.as_uri().removeprefix("file://")
    assert "%20" in url
    assert (await get(transport, url)).body == CRL
