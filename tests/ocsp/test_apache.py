"""Apache httpd (Debian's package) with mod_ssl verifying client certificates by OCSP
against revocd (`SSLOCSPEnable`, its own HTTP client: a POST with a nonce, which it
checks is echoed): a certificate revocd reports revoked fails the handshake, a good one
gets an HTTP answer."""

from __future__ import annotations

import asyncio
import ssl
import urllib.error
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from revocd.ocsp.signing import Signer
from revocd.web import keys
from tests.ocsp.test_nginx import https_get, write
from tests.support.peers import free_port, need_binary, need_path, running_peer
from tests.support.pki import issue, make_ca
from tests.support.relying import app_for

pytestmark = [pytest.mark.peer, pytest.mark.slow]

MODULES = Path("/usr/lib/apache2/modules")
APACHE_CONF = """
ServerRoot "{dir}"
ServerName localhost
Listen 127.0.0.1:{port}
PidFile {dir}/httpd.pid
ErrorLog {dir}/error.log
LogLevel warn ssl:info
User nobody
Group nogroup
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule ssl_module {modules}/mod_ssl.so
SSLSessionCache none
<VirtualHost 127.0.0.1:{port}>
    SSLEngine on
    SSLCertificateFile {dir}/server.pem
    SSLCertificateKeyFile {dir}/server.key
    SSLCACertificateFile {dir}/ca.pem
    SSLVerifyClient require
    SSLVerifyDepth 1
    SSLOCSPEnable leaf
    SSLOCSPDefaultResponder http://127.0.0.1:{revocd}/ocsp
    SSLOCSPOverrideResponder on
    SSLOCSPResponderTimeout 10
</VirtualHost>
"""


def running_apache(tmp_path: Path, revocd_port: int) -> AbstractAsyncContextManager[int]:
    """httpd in the foreground on a free port, once it accepts connections."""
    modules = need_path(MODULES / "mod_ssl.so", "apache2").parent
    port = free_port()
    conf = tmp_path / "httpd.conf"
    conf.write_text(
        APACHE_CONF.format(dir=tmp_path, port=port, revocd=revocd_port, modules=modules)
    )
    return running_peer([need_binary("apache2"), "-f", str(conf), "-DFOREGROUND"], port)


def handshake(port: int, ca: Path, cert: Path) -> str:
    """ "answered" when the TLS handshake (with its OCSP check) let the request through."""
    try:
        https_get(port, ca, cert)
    except (ssl.SSLError, urllib.error.URLError, ConnectionError) as error:
        return f"refused: {error}"
    return "answered"


async def test_apache_refuses_a_client_certificate_revocd_reports_revoked(aiohttp_client, tmp_path):
    ca = make_ca("Partner Client CA")
    responder_cert, responder_key = issue(ca, "revocd ocsp", ocsp_signing=True)
    client = await aiohttp_client(
        app_for(ca, Signer(responder_cert, responder_key, embed=True), revoked=[0x1001])
    )
    (tmp_path / "ca.pem").write_bytes(ca.pem())
    write(tmp_path / "server", *issue(ca, "localhost"))
    write(tmp_path / "good", *issue(ca, "alice", serial=0x2002))
    write(tmp_path / "bad", *issue(ca, "mallory", serial=0x1001))

    async with running_apache(tmp_path, client.port) as port:
        ca_pem = tmp_path / "ca.pem"
        good = await asyncio.to_thread(handshake, port, ca_pem, tmp_path / "good")
        bad = await asyncio.to_thread(handshake, port, ca_pem, tmp_path / "bad")
    log = (tmp_path / "error.log").read_text()
    assert good == "answered", log[-2000:]
    assert "CERTIFICATE_REVOKED" in bad, bad  # the TLS alert Apache sends
    assert "OCSP validation completed, certificate status: revoked" in log, log[-2000:]
    requests = client.app[keys.METRICS].registry.get_sample_value(
        "revocd_ocsp_requests_total", {"method": "POST", "status": "successful"}
    )
    assert requests == 2  # Apache asked revocd, once per handshake
