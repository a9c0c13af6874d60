"""nginx (Debian's package) verifying client certificates with `ssl_ocsp on` against
revocd's responder: a certificate revocd reports revoked is refused, a good one accepted."""

from __future__ import annotations

import asyncio
import ssl
import urllib.error
import urllib.request
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from revocd.ocsp.signing import Signer
from revocd.web import keys
from tests.support.peers import free_port, need_binary, running_peer
from tests.support.pki import CA, issue, make_ca
from tests.support.relying import NOW, app_for

pytestmark = [pytest.mark.peer, pytest.mark.slow]

NGINX_CONF = """
daemon off;
master_process off;
error_log {dir}/error.log info;
pid {dir}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp;
    proxy_temp_path {dir}/tmp;
    fastcgi_temp_path {dir}/tmp;
    uwsgi_temp_path {dir}/tmp;
    scgi_temp_path {dir}/tmp;
    resolver 127.0.0.1;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {dir}/server.pem;
        ssl_certificate_key {dir}/server.key;
        ssl_client_certificate {dir}/ca.pem;
        ssl_verify_client on;
        ssl_ocsp on;
        ssl_ocsp_responder http://127.0.0.1:{revocd}/ocsp/;
        location / {{ return 200 "hello $ssl_client_serial\\n"; }}
    }}
}}
"""


def write(path: Path, cert: x509.Certificate, key: object) -> None:
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def https_get(port: int, ca: Path, cert: Path) -> int:
    context = ssl.create_default_context(cafile=str(ca))
    context.check_hostname = False
    context.load_cert_chain(str(cert.with_suffix(".pem")), str(cert.with_suffix(".key")))
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/", context=context, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as error:
        return error.code


async def serve_delegated(aiohttp_client, ca: CA, revoked: list[int]):
    """revocd answering OCSP for `ca`, signed by a delegated responder certificate."""
    responder_cert, responder_key = issue(ca, "revocd ocsp", ocsp_signing=True)
    signer = Signer(responder_cert, responder_key, embed=True)
    return await aiohttp_client(app_for(ca, signer, revoked, nonce="ignore"))


def running_nginx(
    tmp_path: Path, template: str, revocd_port: int
) -> AbstractAsyncContextManager[int]:
    """nginx in the foreground on a free port, once it accepts connections."""
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(template.format(dir=tmp_path, port=port, revocd=revocd_port))
    return running_peer([need_binary("nginx"), "-p", str(tmp_path), "-c", str(conf)], port)


async def test_nginx_refuses_a_client_certificate_revocd_reports_revoked(aiohttp_client, tmp_path):
    ca: CA = make_ca("Partner Client CA")
    lifetime = {"not_before": NOW - timedelta(days=1), "not_after": NOW + timedelta(days=30)}
    good, good_key = issue(ca, "alice", serial=0x2002, **lifetime)
    bad, bad_key = issue(ca, "mallory", serial=0x1001, **lifetime)
    server, server_key = issue(ca, "localhost", **lifetime)
    (tmp_path / "ca.pem").write_bytes(ca.pem())
    (tmp_path / "tmp").mkdir()
    write(tmp_path / "server", server, server_key)
    write(tmp_path / "good", good, good_key)
    write(tmp_path / "bad", bad, bad_key)
    client = await serve_delegated(aiohttp_client, ca, revoked=[0x1001])

    async with running_nginx(tmp_path, NGINX_CONF, client.port) as port:
        ca_pem = tmp_path / "ca.pem"
        for _ in range(2):  # the second time, from the pre-signed responses (the hot path)
            assert await asyncio.to_thread(https_get, port, ca_pem, tmp_path / "good") == 200
            assert await asyncio.to_thread(https_get, port, ca_pem, tmp_path / "bad") == 400
    hits = client.app[keys.METRICS].registry.get_sample_value(
        "revocd_ocsp_presigned_total", {"result": "hit"}
    )
    assert hits == 2
    log = (tmp_path / "error.log").read_text()
    assert "revoked" in log, log[-2000:]


STAPLING_CONF = """
daemon off;
master_process off;
error_log {dir}/error.log info;
pid {dir}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp;
    proxy_temp_path {dir}/tmp;
    fastcgi_temp_path {dir}/tmp;
    uwsgi_temp_path {dir}/tmp;
    scgi_temp_path {dir}/tmp;
    resolver 127.0.0.1;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {dir}/server.pem;
        ssl_certificate_key {dir}/server.key;
        ssl_stapling on;
        ssl_stapling_verify on;
        ssl_trusted_certificate {dir}/ca.pem;
        ssl_stapling_responder http://127.0.0.1:{revocd}/ocsp/;
        location / {{ return 200 "hello\\n"; }}
    }}
}}
"""


async def test_nginx_staples_revocds_response(aiohttp_client, tmp_path):
    openssl = need_binary("openssl")
    ca: CA = make_ca("Partner Server CA")
    server, server_key = issue(
        ca, "localhost", serial=0x3003,
        not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=30),
    )  # fmt: skip
    (tmp_path / "ca.pem").write_bytes(ca.pem())
    (tmp_path / "tmp").mkdir()
    write(tmp_path / "server", server, server_key)
    client = await serve_delegated(aiohttp_client, ca, revoked=[])
    output = ""
    async with running_nginx(tmp_path, STAPLING_CONF, client.port) as port:
        for _ in range(40):  # nginx fetches the staple after the first handshakes
            probe = await asyncio.create_subprocess_exec(
                openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-status",
                "-CAfile", str(tmp_path / "ca.pem"),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            output = (await probe.communicate())[0].decode(errors="replace")
            if "Cert Status: good" in output:
                break
            await asyncio.sleep(0.1)
    assert "OCSP Response Status: successful" in output, output[-3000:]
    assert "Cert Status: good" in output
