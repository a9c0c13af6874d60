"""Big CRLs are walked in parts by worker processes, and come back through files: the
result must be exactly what the one-process walk gives."""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

import pytest

from revocd.daemon import process_pool
from revocd.der import encode_tlv
from revocd.poll.verifier import PARALLEL_FROM_BYTES, CrlVerifier
from revocd.serials import content_from_int
from revocd.verify.crl import verify_crl
from revocd.verify.history import sticky_additions
from tests.verify.helpers import ISSUING, ctx, raw

REASON = encode_tlv(
    0x30, encode_tlv(0x30, bytes.fromhex("0603551d15") + encode_tlv(0x04, b"\x0a\x01\x01"))
)
ENTRY_SIZE = 38  # octets per entry, about: a 14-octet serial on average, half with a reason


def _entries(count: int, seed: int, long_serial_at: int | None = None) -> Iterator[bytes]:
    rng = random.Random(seed)
    for i in range(count):
        octets = 25 if i == long_serial_at else rng.randint(8, 20)
        serial = rng.getrandbits(8 * octets - 1) | 1 << (8 * octets - 2)
        body = encode_tlv(0x02, content_from_int(serial)) + encode_tlv(0x17, b"260101000000Z")
        yield encode_tlv(0x30, body + (REASON if i % 2 else b""))


def _big_crl(seed: int, long_serial_at: int | None = None, skip: int = 0) -> bytes:
    count = PARALLEL_FROM_BYTES // ENTRY_SIZE + 1000
    entries = [e for i, e in enumerate(_entries(count, seed, long_serial_at)) if i >= skip]
    der = raw(*entries)
    assert len(der) >= PARALLEL_FROM_BYTES  # the parallel path, not the small one
    return der


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    executor = process_pool()
    assert isinstance(executor, ProcessPoolExecutor)
    yield executor
    executor.shutdown()


@pytest.mark.parametrize("long_serial_at", [None, 70_000], ids=["20-octet", "one-25-octet"])
async def test_a_big_crl_walked_in_parts_equals_the_one_process_walk(
    pool: ProcessPoolExecutor, long_serial_at: int | None
) -> None:
    der = _big_crl(1, long_serial_at)
    expected = verify_crl(der, ctx(ISSUING))
    evidence = await CrlVerifier(pool, 2).verify(der, ctx(ISSUING))
    assert evidence.meta.entry_count == expected.meta.entry_count > 90_000
    assert evidence.index.key_width == expected.index.key_width
    assert len(evidence.index.runs) == 2  # walked by two workers, each part sorted
    width = evidence.index.key_width
    assert evidence.index.sorted_keys(width) == expected.index.sorted_keys(width)
    for revocation in list(expected.index)[::997]:
        assert evidence.index.lookup(revocation.serial) == revocation


async def test_sticky_additions_through_files_equal_the_in_memory_diff(
    pool: ProcessPoolExecutor,
) -> None:
    verifier = CrlVerifier(pool, 2)
    older = (await verifier.verify(_big_crl(2), ctx(ISSUING))).index
    newer = (await verifier.verify(_big_crl(2, skip=5), ctx(ISSUING))).index
    dropped = await verifier.sticky_additions(older, newer)
    assert len(dropped) == 5
    assert dropped == sticky_additions(older, newer)


async def test_a_big_pem_crl_is_walked_in_parts_as_its_der(pool: ProcessPoolExecutor) -> None:
    """The worker maps the CRL file; a PEM one is decoded, and its DER walked in parts."""
    der = _big_crl(3)
    pem = b"-----BEGIN X509 CRL-----\n" + base64.encodebytes(der) + b"-----END X509 CRL-----\n"
    evidence = await CrlVerifier(pool, 2).verify(pem, ctx(ISSUING))
    expected = verify_crl(der, ctx(ISSUING))
    assert evidence.der == der
    assert len(evidence.index.runs) == 2
    width = evidence.index.key_width
    assert evidence.index.sorted_keys(width) == expected.index.sorted_keys(width)
