"""Stories about the structlog and loguru bridges, the missing extras, and all three bridges on the wire."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from loguru import logger as loguru_logger

import logfire
from logfire.exceptions import MissingExtraError
from logfire.testing import CaptureLogfire

from .conftest import ROOT, clean_env, run_python
from .otlp_receiver import OTLPReceiver


def attributes_of(capfire: CaptureLogfire) -> list[dict[str, Any]]:
    return [span['attributes'] for span in capfire.exporter.exported_spans_as_dict()]


@pytest.fixture
def structlog_logger(capfire: CaptureLogfire) -> Iterator[Any]:
    structlog.configure(
        processors=[
            structlog.stdlib.add_log_level,
            structlog.processors.TimeStamper(fmt=None),
            logfire.StructlogProcessor(),
            structlog.processors.KeyValueRenderer(),
        ],
        logger_factory=structlog.ReturnLoggerFactory(),
        cache_logger_on_first_use=False,
    )
    yield structlog.get_logger()
    structlog.reset_defaults()


def test_a_structlog_event_becomes_a_log_and_the_chain_goes_on(capfire: CaptureLogfire, structlog_logger: Any) -> None:
    with logfire.span('request'):
        rendered = structlog_logger.warning('user logged in', user_id=42, password='hunter2')

    assert 'event=' in rendered and 'user_id=42' in rendered  # the renderer still got the event dict
    [log, _] = capfire.exporter.exported_spans_as_dict()
    assert log['parent'] is not None
    attributes = log['attributes']
    assert (attributes['logfire.msg'], attributes['logfire.msg_template']) == ('user logged in', 'user logged in')
    assert attributes['logfire.level_num'] == 13
    assert attributes['user_id'] == 42
    assert attributes['password'].startswith('[Scrubbed')
    assert attributes['code.function'] == 'test_a_structlog_event_becomes_a_log_and_the_chain_goes_on'
    assert attributes['logfire.disable_console_log'] is True  # structlog prints it already
    assert 'timestamp' not in attributes and 'level' not in attributes


def test_structlog_exception_records_an_exception_event(capfire: CaptureLogfire, structlog_logger: Any) -> None:
    try:
        raise KeyError('sku')
    except KeyError:
        structlog_logger.exception('lookup failed')

    [span] = capfire.exporter.exported_spans
    assert span.attributes is not None and span.attributes['logfire.level_num'] == 17
    assert [event.name for event in span.events] == ['exception']


def test_structlog_timestamp_and_logger_name_are_used(capfire: CaptureLogfire) -> None:
    processor = logfire.StructlogProcessor()

    processor(None, 'info', {'event': 'hi', 'timestamp': 1700000000.5, 'logger': 'shop', 'level': 'critical'})

    [span] = capfire.exporter.exported_spans
    assert span.start_time == 1_700_000_000_500_000_000
    assert span.attributes is not None
    assert (span.attributes['logfire.logger_name'], span.attributes['logfire.level_num']) == ('shop', 21)


@pytest.fixture
def loguru(capfire: CaptureLogfire) -> Iterator[Any]:
    handler: Any = {**logfire.loguru_handler(), 'level': 'TRACE'}
    loguru_logger.configure(handlers=[handler])
    yield loguru_logger
    loguru_logger.remove()


def test_a_loguru_record_becomes_a_log_with_template_args_and_extra(capfire: CaptureLogfire, loguru: Any) -> None:
    with logfire.span('request'):
        loguru.bind(request_id='r1').info('order {} shipped by {carrier}', 42, carrier='ups')
        loguru.success('done')
        loguru.trace('detail')

    [shipped, done, detail, _] = capfire.exporter.exported_spans_as_dict()
    attributes = shipped['attributes']
    assert attributes['logfire.msg_template'] == 'order {} shipped by {carrier}'
    assert attributes['logfire.msg'] == 'order 42 shipped by ups'
    assert attributes['logfire.logging_args'] == '[42]'
    assert (attributes['request_id'], attributes['carrier']) == ('r1', 'ups')
    assert attributes['logfire.logger_name'] == 'tests.test_logging_libraries'
    assert attributes['code.function'] == 'test_a_loguru_record_becomes_a_log_with_template_args_and_extra'
    assert shipped['parent'] is not None
    assert (done['attributes']['logfire.level_num'], detail['attributes']['logfire.level_num']) == (10, 1)


def test_loguru_exception_records_an_exception_event(capfire: CaptureLogfire, loguru: Any) -> None:
    try:
        raise ZeroDivisionError('division by zero')
    except ZeroDivisionError:
        loguru.exception('charging failed')

    [span] = capfire.exporter.exported_spans
    assert span.attributes is not None and span.attributes['logfire.level_num'] == 17
    assert [event.name for event in span.events] == ['exception']


@pytest.mark.parametrize(
    ('module', 'make', 'extra'),
    [
        ('structlog', lambda: logfire.StructlogProcessor(), 'structlog'),
        ('loguru', lambda: logfire.loguru_handler(), 'loguru'),
    ],
)
def test_a_missing_library_names_the_extra(monkeypatch: pytest.MonkeyPatch, module: str, make: Any, extra: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)

    with pytest.raises(MissingExtraError, match=rf"pip install 'logfire\[{extra}\]'") as info:
        make()
    assert isinstance(info.value, ImportError)
    assert info.value.__cause__ is not None


def test_importing_logfire_imports_neither_structlog_nor_loguru() -> None:
    result = run_python("import sys, logfire; print(sorted({'structlog', 'loguru'} & set(sys.modules)))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '[]'


def test_all_three_bridges_deliver_their_logs_over_otlp(tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import logging
        import structlog
        from loguru import logger
        import logfire

        logfire.configure(console=False, inspect_arguments=False)
        logging.basicConfig(handlers=[logfire.LogfireLoggingHandler()], level=logging.INFO)
        structlog.configure(processors=[logfire.StructlogProcessor()], logger_factory=structlog.ReturnLoggerFactory())
        logger.configure(handlers=[logfire.loguru_handler()])

        with logfire.span('job'):
            logging.getLogger('shop').info('stdlib %s', 1, extra={'k': 'v'})
            structlog.get_logger().info('structlog', k='v')
            logger.bind(k='v').info('loguru {}', 3)
    """)
    with OTLPReceiver() as rx:
        env = clean_env(
            OTEL_EXPORTER_OTLP_ENDPOINT=rx.endpoint, LOGFIRE_SEND_TO_LOGFIRE='false', LOGFIRE_DATA_DIR=str(tmp_path)
        )
        result = run_python(code, env=env)
        assert result.returncode == 0, result.stderr
        spans = rx.wait_for_spans(4, timeout=10)
    by_name = {span.name: span for span in spans}
    assert set(by_name) == {'job', 'stdlib %s', 'structlog', 'loguru {}'}
    job = by_name['job']
    for name in ('stdlib %s', 'structlog', 'loguru {}'):
        assert by_name[name].parent_span_id == job.span_id
        assert by_name[name].attributes['k'] == 'v'
    assert by_name['stdlib %s'].attributes['logfire.msg'] == 'stdlib 1'
    assert by_name['stdlib %s'].attributes['logfire.logger_name'] == 'shop'
    assert by_name['loguru {}'].attributes['logfire.msg'] == 'loguru 3'


def test_the_logging_example_prints_all_three_libraries_logs() -> None:
    result = run_python((ROOT / 'examples' / 'logging_app.py').read_text())
    assert result.returncode == 0, result.stderr
    for line in ('checkout 42', '  charged 12.5 EUR', 'stock reserved', '  order 42 shipped', '  tracking number'):
        assert line in result.stdout, result.stdout
    assert 'TimeoutError: carrier API timed out' in result.stdout


def test_loguru_arguments_are_scrubbed_in_the_message_too(capfire: CaptureLogfire, loguru: Any) -> None:
    loguru.info('login as {} with {password}', 'ada', password='hunter2')
    loguru.info('calling {}', 'https://example.com/?api_key=abc123secret')

    [login, call] = attributes_of(capfire)
    assert 'hunter2' not in str(login)
    assert login['logfire.msg'].startswith('login as ada with [Scrubbed')
    assert 'abc123secret' not in str(call)
    assert call['logfire.msg'].startswith('calling [Scrubbed')
