"""`revocd demo`: a self-contained federation on 127.0.0.1, and revocd aggregating it.

Three partners, each publishing revocation status its own way:

* ``northwind``: a root CA, CRL-only, its CRL on a little partner web server started here;
* ``contoso``: a CA cross-certified with northwind: the same CA (same subject, same key)
  in two certificates, contoso's own and one northwind issued
  (``pki/contoso-issuing-by-northwind.pem``), which revocd answers for as one issuer
  whichever copy a relying party names; its CRL is also on a ``file:`` mirror. northwind's
  root is certified by contoso in return (``pki/northwind-root-by-contoso.pem``);
* ``fabrikam``: OCSP-only. Its status comes from its own responder, a real
  ``openssl ocsp -index`` process that the demo starts (and stops), signing with an OCSP
  certificate fabrikam's CA issued to it. revocd asks it when a relying party asks about
  a fabrikam certificate, and keeps the answer until its nextUpdate (one minute here,
  refreshed in the background before then). fabrikam's issuer is `passthrough`: a client
  request that fabrikam's answer fits exactly (one SHA-1 CertID, no nonce) gets
  fabrikam's own signed bytes; any other is signed by revocd (`trusted`).

Each CA starts with its second certificate revoked, so there is always a good and a
revoked answer to show. While the demo runs, every few seconds one partner revokes its
next certificate: northwind and contoso publish a new CRL (CRL number + 1), fabrikam
rewrites its responder's index file. The demo prints commands to try and keeps running
until Ctrl-C (or SIGTERM), then stops revocd and the partner responder. Everything lives
in one directory (a temporary one unless --dir is given), including the embedded store.

The package, one concern per module:

    pki.py       the partner CAs, their certificates, CRLs and responder index, on disk
    partners.py  the partners' CRL web server and fabrikam's `openssl ocsp` responder
    commands.py  the commands to try, as printed (the e2e test runs them as printed)
    run.py       the orchestration: config, the revoking story, revocd itself, the CLI entry
"""

from __future__ import annotations

from revocd.demo.run import run_demo

__all__ = ["run_demo"]
