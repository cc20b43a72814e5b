"""Structured logs (structlog): key-value on a terminal, JSON lines otherwise
(journald, files, CI), so logs are read by people and parsed by tools alike."""

from __future__ import annotations

import io
import logging
import sys
from typing import TextIO, cast

import structlog


def configure(
    level: str = "info", *, json_lines: bool | None = None, file: TextIO | None = None
) -> None:
    """Set up structlog once per process, to `file` (stderr by default); `json_lines`
    None means: JSON unless the file is a terminal."""
    if json_lines is None:
        json_lines = not (file or sys.stderr).isatty()
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
        logger_factory=structlog.PrintLoggerFactory(file=file or current_stderr()),
        cache_logger_on_first_use=True,
    )


class _CurrentStderr(io.TextIOBase):
    """Whatever `sys.stderr` is when a line is written, not when logging was set up: a
    stream replaced since (by a test runner's capture, say) is never written after it
    is closed."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def current_stderr() -> TextIO:
    """A stream that writes to the `sys.stderr` of the moment (for structlog's loggers)."""
    return cast(TextIO, _CurrentStderr())
