"""revocd: a revocation aggregation daemon.

Polls every partner's CRL distribution points (and later OCSP responders), verifies
what it receives, keeps one status cache with precise freshness rules, and answers
relying parties over JSON (and OCSP).
"""

__version__ = "0.1.0"
