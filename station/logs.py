"""Structured logs (structlog): key-value on a terminal, JSON lines otherwise
(journald, files, CI), so logs are read by people and parsed by tools alike."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog


def configure(
    level: str = "info", *, json_lines: bool | None = None, file: TextIO | None = None
) -> None:
    """Set up structlog once per process, to `file` (stderr by default); `json_lines`
    None means: JSON unless the file is a terminal."""
    file = file or sys.stderr
    if json_lines is None:
        json_lines = not file.isatty()
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=file),
        cache_logger_on_first_use=True,
    )
