"""Fetching evidence: bounded bytes over http(s) and file:, never parsed here.

`transport.Transport` does the bounded I/O; `crl.fetch_crl` applies a partner's policy
and names the source in errors. Parsing and checking belong to `revocd.verify`.
"""
