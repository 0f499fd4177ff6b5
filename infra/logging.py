"""Structured logging (structlog) with secrets and personal identity numbers scrubbed.

Every handler in ``settings.LOGGING`` formats with `formatter`, which scrubs twice: the event
(at any depth, with the exception's traceback already turned into text) before rendering, and the
rendered line after, so nothing the renderer adds (a ``repr``, a number) can carry a CPR number.
"""

import logging
import re

import structlog

_SECRET_KEYS = re.compile(r"pass|secret|token|api_?key|authorization|cookie|cpr|otp", re.I)
# A CPR number: DDMMYY-NNNN, DDMMYYNNNN or DDMMYY NNNN, not inside a longer word or number. The
# day is 01-31, or 61-91 in the substitute numbers given to people without a CPR number.
CPR = re.compile(
    r"(?<![0-9A-Za-z])(?:0[1-9]|[12]\d|3[01]|6[1-9]|[78]\d|9[01])(?:0[1-9]|1[0-2])\d\d"
    r"[-\u2010-\u2015\s]?\d{4}(?![0-9A-Za-z])"
)
MASK = "[cpr]"


def mask_cpr(text: str) -> str:
    return CPR.sub(MASK, text)


def _scrubbed(value):
    if isinstance(value, str):
        return mask_cpr(value)
    if isinstance(value, dict):
        return {
            key: "[redacted]" if _SECRET_KEYS.search(str(key)) else _scrubbed(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrubbed(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and CPR.fullmatch(f"{value:010d}"):
        return MASK  # a CPR number kept as an integer
    return value


def scrub(_logger, _method, event_dict):
    """Replace the values of secret-looking keys and CPR numbers, at any depth, before rendering."""
    return _scrubbed(event_dict)


def scrub_rendered(_logger, _method, line: str) -> str:
    """The last step: mask CPR numbers in the rendered line itself."""
    return mask_cpr(line)


def formatter(json: bool) -> logging.Formatter:
    """The formatter of every handler (settings.LOGGING): JSON lines in production, else console.
    Tracebacks are plain text (no local variables, which could hold secrets)."""
    renderer = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.stdlib.add_log_level,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,  # the traceback as text, so `scrub` sees it
            scrub,
            renderer,
            scrub_rendered,
        ],
    )


structlog.configure(
    processors=[
        structlog.contextvars.merge_contextvars,
        structlog.processors.TimeStamper(fmt="iso"),
        structlog.stdlib.add_log_level,
        structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
    ],
    logger_factory=structlog.stdlib.LoggerFactory(),
    cache_logger_on_first_use=True,
)


def get_logger(name: str):
    return structlog.get_logger(name)
