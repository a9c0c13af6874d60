"""structlog set-up: JSON lines on stdout by default, a readable console format for people.

Event names are stable snake_case (`crl_accepted`, `crl_rejected`,
`source_state_changed`, ...): dashboards and tests match on them. Levels say whose fault
it is: our bug is an error, a partner misbehaving a warning, client garbage info/debug.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog


def configure(log_format: str = "json", level: str = "info", stream: TextIO | None = None) -> None:
    """Configure structlog once, at process start (the CLI calls it; tests capture logs)."""
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    renderer: structlog.typing.Processor
    if log_format == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    else:
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # One write() per line (PrintLogger writes the newline separately): replica
        # processes share stdout, and their lines must not interleave.
        logger_factory=structlog.WriteLoggerFactory(stream or sys.stdout),
        cache_logger_on_first_use=False,
    )
