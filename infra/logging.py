"""Structured logging (structlog) with secrets and personal identity numbers scrubbed."""

import logging
import re

import structlog

_SECRET_KEYS = re.compile(r"pass|secret|token|api_?key|authorization|cookie|cpr|otp", re.I)
# A CPR number (DDMMYY-XXXX or DDMMYYXXXX) must never reach a log line.
_CPR = re.compile(r"\b\d{6}-?\d{4}\b")


def scrub(_logger, _method, event_dict):
    """Replace the values of secret-looking keys and CPR-shaped numbers before rendering."""
    for key, value in list(event_dict.items()):
        if _SECRET_KEYS.search(key):
            event_dict[key] = "[redacted]"
        elif isinstance(value, str):
            event_dict[key] = _CPR.sub("[cpr]", value)
    return event_dict


def formatter(json: bool) -> logging.Formatter:
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.stdlib.add_log_level,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            scrub,
            renderer,
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
