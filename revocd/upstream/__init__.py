"""Upstream OCSP sources: ask a partner's own OCSP responder when CRLs cannot decide.

The data flow is the same as for CRLs, one module per arrow::

    client.py   build the request (nonce, GET or POST), fetch bounded bytes; never parses
    verify.py   bytes -> UpstreamAnswer, or Rejected(reason); pure, no I/O
    query.py    one upstream round for (issuer, serial): failover across the issuer's OCSP
                URLs, per-source concurrency bound, health, events
    health.py   per-source health (ok / failing, last error, last success)
    outcome.py  the values crossing the boundary: failures, results, events (pure)
    cache.py    accepted answers per (issuer, serial): freshness and grace, coalescing,
                replay protection, sticky revocation, background refresh, probes
    combine.py  CRL answer + upstream result -> one Answer (revoked in any wins)

docs/decisions/0006-upstream-ocsp.md explains the choices.
"""
