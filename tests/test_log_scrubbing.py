"""No secret and no CPR number reaches a log line: through the handlers settings.LOGGING configures
(structlog events and stdlib records, nested values, tracebacks), in the production JSON format,
and in a Celery worker, which would otherwise install its own handlers (infra/logging.py)."""

import io
import json
import logging
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.utils.module_loading import import_string

from infra.logging import get_logger, scrub

CPRS = ("150385-4711", "1503854711", "150385 4711", "010203-1234", "650385-4711")
SECRET = "hunter2-not-in-logs"


def configured_handlers():
    """(logger name, handler) for every handler logging holds now, except pytest's own."""
    loggers = [("root", logging.getLogger())] + [
        (name, logger)
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    ]
    return [
        (name, handler)
        for name, logger in loggers
        for handler in logger.handlers
        if not type(handler).__module__.startswith("_pytest")
        and not isinstance(handler, logging.NullHandler)
    ]


@pytest.fixture
def console():
    """What the root handler of settings.LOGGING writes, read back as text."""
    [handler] = [h for name, h in configured_handlers() if name == "root"]
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.setStream(previous)


def production_formatter() -> logging.Formatter:
    """The formatter settings.LOGGING names, made as production makes it (JSON lines)."""
    config = dict(settings.LOGGING["formatters"]["structured"], json=True)
    return import_string(config.pop("()"))(**config)


def assert_clean(text: str):
    for cpr in CPRS:
        assert cpr not in text, text
    assert SECRET not in text, text


def test_every_handler_formats_with_the_scrubber():
    handlers = configured_handlers()
    assert "root" in {name for name, _handler in handlers}
    for name, handler in handlers:
        processors = getattr(handler.formatter, "processors", ())
        assert scrub in processors, f"{name}: {handler!r} formats with {handler.formatter!r}"
    # Django's own loggers log through the root handler, not through handlers of their own.
    for name in ("django", "django.server"):
        assert logging.getLogger(name).propagate and not logging.getLogger(name).handlers


def test_nested_values_and_every_spelling_are_masked(console):
    get_logger("havn.test").warning(
        "identity.checked",
        params={"n": "150385-4711", "people": [{"cpr_note": "x"}, ("150385 4711",)]},
        numbers=["1503854711", 1503854711],
        substitute="650385-4711",
        form={"password": SECRET, "token": [SECRET]},
        text="born 010203-1234, see above",
    )
    line = console.getvalue()
    assert "identity.checked" in line
    assert line.count("[cpr]") == 6, line
    assert line.count("[redacted]") == 3, line
    assert_clean(line)


def test_ordinary_numbers_are_left_alone(console):
    get_logger("havn.test").warning(
        "backup.done", bytes=1234567890, run="a1503854711b", files="12345678901"
    )
    line = console.getvalue()
    assert "1234567890" in line and "a1503854711b" in line and "12345678901" in line
    assert "[cpr]" not in line


def test_a_traceback_is_scrubbed_for_structlog_and_stdlib_loggers(console):
    try:
        raise ValueError(f"no person with CPR {CPRS[0]} or {CPRS[2]}")
    except ValueError:
        get_logger("havn.test").exception("identity.failed", cpr=CPRS[1])
        logging.getLogger("django.request").exception("Internal Server Error: /eid?n=%s", CPRS[1])
    text = console.getvalue()
    assert text.count("Traceback (most recent call last)") == 2, text
    assert "ValueError: no person with CPR [cpr] or [cpr]" in text
    assert "Internal Server Error: /eid?n=[cpr]" in text
    assert_clean(text)


def test_production_json_lines_are_scrubbed_with_the_traceback():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(production_formatter())
    logger = logging.getLogger("havn.test.json")
    logger.addHandler(handler)
    try:
        try:
            raise RuntimeError(f"eID refused {CPRS[0]}")
        except RuntimeError:
            logger.error("eid.failed for %s", CPRS[3], exc_info=True)
        get_logger("havn.test.json").warning(
            "nested", params={"n": CPRS[0]}, api_key=SECRET, obj=ValueError(CPRS[1])
        )
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["event"] == "eid.failed for [cpr]"
    assert first["exception"].startswith("Traceback (most recent call last)")
    assert "RuntimeError: eID refused [cpr]" in first["exception"]
    assert second["params"] == {"n": "[cpr]"} and second["api_key"] == "[redacted]"
    assert_clean(stream.getvalue())


def test_a_celery_worker_keeps_the_scrubbing_handlers():
    """Celery's logging set-up (what `celery worker` runs at start) would put its own handler on
    the root logger; the worker's log lines must be scrubbed all the same."""
    code = (
        "import logging, structlog\n"
        "from infra.celery import app\n"
        "app.log.setup(loglevel='INFO')\n"
        f"structlog.get_logger('havn.worker').warning('task', params={{'n': '{CPRS[0]}'}})\n"
        f"logging.getLogger('celery.app.trace').warning('Task failed: %s', '{CPRS[1]}')\n"
    )
    environment = dict(os.environ, DJANGO_SETTINGS_MODULE="infra.settings_test")
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    assert "task" in output and "Task failed: [cpr]" in output, output
    assert_clean(output)
