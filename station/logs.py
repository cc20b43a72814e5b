"""Structured logs (structlog): key-value on a terminal, JSON lines otherwise
(journald, files, CI), so logs are read by people and parsed by tools alike.

Libraries log through the standard library's `logging` (pymodbus, asyncua): a
handler on the root logger renders their records with the same processors and
renderer, the logger's name added, so every line of a log has one format (no
plain "Failed to connect" among the JSON lines)."""

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
    _configured[:] = [level, json_lines]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer()
    )
    stream = file or current_stderr()
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    threshold = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for previous in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(previous)
    root.addHandler(handler)
    # Libraries' INFO is chatter (asyncua logs every session and subscription):
    # their warnings and errors only, or fewer if `level` asks for fewer.
    root.setLevel(max(threshold, logging.WARNING))


_HANDLER_NAME = "station.logs"
_configured: list[object] = []


def child_options() -> list[str]:
    """The options that make a child process of ours (`station.interface.process`) log
    as this one was configured to: `--log-level L` and `--log-json` or not."""
    if not _configured:
        return []
    level, json_lines = _configured
    return ["--log-level", str(level), *(["--log-json"] if json_lines else [])]


"""The name of the root logger's handler set up here (replaced when set up again)."""


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
