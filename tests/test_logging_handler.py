"""Stories about `logfire.LogfireLoggingHandler`: stdlib `logging` records become logfire logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

import logfire
from logfire.testing import CaptureLogfire

from .conftest import run_python


class Collect(logging.Handler):
    """A fallback that keeps what it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def fallback() -> Collect:
    return Collect()


@pytest.fixture
def shop(capfire: CaptureLogfire, fallback: Collect) -> Iterator[logging.Logger]:
    """The `shop` logger, at DEBUG, with the handler (and nothing else) attached."""
    logger = logging.getLogger('shop')
    handler = logfire.LogfireLoggingHandler(fallback=fallback)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger
    logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


def logs(capfire: CaptureLogfire) -> list[dict[str, Any]]:
    return [s for s in capfire.exporter.exported_spans_as_dict() if s['attributes']['logfire.span_type'] == 'log']


def test_a_record_becomes_a_log_in_the_current_span(capfire: CaptureLogfire, shop: logging.Logger) -> None:
    with logfire.span('checkout'):
        shop.info('order %s shipped by %s', 42, 'ups', extra={'carrier': {'name': 'ups'}, 'weight': 1.5})

    [log, span] = capfire.exporter.exported_spans_as_dict()
    assert span['name'] == 'checkout'
    assert log['parent'] == {'trace_id': 1, 'span_id': 1, 'is_remote': False}
    assert log['name'] == 'order %s shipped by %s'
    assert log['attributes'] == {
        'carrier': '{"name":"ups"}',
        'weight': 1.5,
        'logfire.logger_name': 'shop',
        'logfire.logging_args': '[42,"ups"]',
        'code.filepath': 'test_logging_handler.py',
        'code.lineno': 123,
        'code.function': 'test_a_record_becomes_a_log_in_the_current_span',
        'logfire.msg_template': 'order %s shipped by %s',
        'logfire.msg': 'order 42 shipped by ups',
        'logfire.json_schema': (
            '{"type":"object","properties":{"carrier":{"type":"object"},"weight":{},'
            '"logfire.logger_name":{},"logfire.logging_args":{"type":"array"}}}'
        ),
        'logfire.span_type': 'log',
        'logfire.level_num': 9,
    }


def test_a_record_without_extra_fields_becomes_the_same_log(capfire: CaptureLogfire, shop: logging.Logger) -> None:
    with logfire.span('checkout'):
        shop.info('order %s weighs %s, gift %s, note %s', 42, 1.5, True, None)
        shop.info('order shipped')

    [with_args, without_args, span] = capfire.exporter.exported_spans_as_dict()
    assert with_args['parent'] == without_args['parent'] == {'trace_id': 1, 'span_id': 1, 'is_remote': False}
    assert span['name'] == 'checkout'
    location = {
        'code.filepath': 'test_logging_handler.py',
        'code.lineno': 123,
        'code.function': 'test_a_record_without_extra_fields_becomes_the_same_log',
    }
    assert with_args['attributes'] == {
        'logfire.logger_name': 'shop',
        'logfire.logging_args': '[42,1.5,true,null]',
        **location,
        'logfire.msg_template': 'order %s weighs %s, gift %s, note %s',
        'logfire.msg': 'order 42 weighs 1.5, gift True, note None',
        'logfire.json_schema': (
            '{"type":"object","properties":{"logfire.logger_name":{},"logfire.logging_args":{"type":"array"}}}'
        ),
        'logfire.span_type': 'log',
        'logfire.level_num': 9,
    }
    assert without_args['attributes'] == {
        'logfire.logger_name': 'shop',
        **location,
        'logfire.msg_template': 'order shipped',
        'logfire.msg': 'order shipped',
        'logfire.json_schema': '{"type":"object","properties":{"logfire.logger_name":{}}}',
        'logfire.span_type': 'log',
        'logfire.level_num': 9,
    }


class Point:
    def __repr__(self) -> str:
        return 'Point(1, 2)'


@pytest.mark.parametrize(
    'args',
    [
        (0, -7, 2**63, -(2**80), 2**13_999),
        (0.1, -0.0, 1e16, 5e-324, 1.7976931348623157e308),
        (True, False, None, 3),
        (float('nan'), 1),
        (float('inf'),),
        (2**14_000,),
        ('ada', 1),
        ({'user': 'ada'}, [1, 2]),
        (Point(),),
        (),
    ],
    ids=['ints', 'floats', 'bools and none', 'nan', 'inf', 'huge int', 'str', 'containers', 'object', 'none'],
)
def test_arguments_are_encoded_as_logfire_log_encodes_them(
    capfire: CaptureLogfire, shop: logging.Logger, args: tuple[Any, ...]
) -> None:
    shop.info(' '.join(['%r'] * len(args)) or 'nothing', *args)
    expected: dict[str, Any] = {'logfire.logger_name': 'shop'}
    if args:
        expected['logfire.logging_args'] = list(args)
    logfire.log('info', 'direct', expected)

    [through_handler, direct] = [log['attributes'] for log in logs(capfire)]
    keys = ('logfire.logger_name', 'logfire.logging_args', 'logfire.json_schema')
    assert {k: through_handler.get(k) for k in keys} == {k: direct.get(k) for k in keys}
    assert through_handler['logfire.msg'] == ' '.join(repr(arg) for arg in args) or 'nothing'


def test_handler_filters_decide_as_for_any_handler(capfire: CaptureLogfire, fallback: Collect) -> None:
    handler = logfire.LogfireLoggingHandler(fallback=fallback)
    plain = Collect()
    record = logging.LogRecord('shop', logging.INFO, __file__, 1, 'order %s', (1,), None)

    assert handler.handle(record) == plain.handle(record)  # True, or the record on Python 3.12+
    handler.addFilter(lambda r: r.getMessage() != 'order 1')
    plain.addFilter(lambda r: r.getMessage() != 'order 1')
    assert handler.handle(record) == plain.handle(record)
    assert not handler.handle(record)

    assert [log['attributes']['logfire.msg'] for log in logs(capfire)] == ['order 1']
    assert fallback.records == []


def test_levels_map_to_logfire_levels_and_custom_numbers_to_the_nearest(
    capfire: CaptureLogfire, shop: logging.Logger
) -> None:
    shop.setLevel(1)
    for number in (10, 20, 30, 40, 50, 5, 1, 15, 25, 35, 45, 99):
        shop.log(number, 'level %d', number)

    levels = {log['attributes']['logfire.msg']: log['attributes']['logfire.level_num'] for log in logs(capfire)}
    assert levels == {
        'level 10': 5,  # debug
        'level 20': 9,  # info
        'level 30': 13,  # warn
        'level 40': 17,  # error
        'level 50': 21,  # fatal
        'level 5': 1,  # trace (loguru's TRACE)
        'level 1': 1,
        'level 15': 9,  # a tie goes to the more severe
        'level 25': 10,  # notice (loguru's SUCCESS)
        'level 35': 17,
        'level 45': 21,
        'level 99': 21,
    }


def test_named_arguments_become_attributes_and_a_single_mapping_stays_an_argument(
    capfire: CaptureLogfire, shop: logging.Logger
) -> None:
    shop.info('user %(user)s bought %(count)d', {'user': 'ada', 'count': 2})
    shop.info('payload %s', {'user': 'ada'})
    shop.info('no args, %s stays')

    [named, single, plain] = [log['attributes'] for log in logs(capfire)]
    assert (named['logfire.msg'], named['user'], named['count']) == ('user ada bought 2', 'ada', 2)
    assert 'logfire.logging_args' not in named
    assert (single['logfire.msg'], single['logfire.logging_args']) == ("payload {'user': 'ada'}", '[{"user":"ada"}]')
    assert plain['logfire.msg'] == plain['logfire.msg_template'] == 'no args, %s stays'


def test_logger_exception_records_an_exception_event_at_error_level(
    capfire: CaptureLogfire, shop: logging.Logger
) -> None:
    try:
        raise ZeroDivisionError('division by zero')
    except ZeroDivisionError:
        shop.exception('charging failed')

    [span] = capfire.exporter.exported_spans
    assert span.attributes is not None and span.attributes['logfire.level_num'] == 17
    assert span.status.status_code is StatusCode.ERROR
    [event] = span.events
    assert event.name == 'exception'
    assert event.attributes is not None
    assert event.attributes['exception.type'] == 'ZeroDivisionError'
    assert 'in test_logger_exception_records_an_exception_event_at_error_level' in str(
        event.attributes['exception.stacktrace']
    )


def test_extra_fields_and_arguments_are_scrubbed(capfire: CaptureLogfire, shop: logging.Logger) -> None:
    shop.info('login with %s', 'password=hunter2', extra={'password': 'hunter2', 'user': 'ada'})

    [log] = logs(capfire)
    attributes = log['attributes']
    assert 'hunter2' not in str(attributes)
    assert attributes['user'] == 'ada'
    assert attributes['password'].startswith('[Scrubbed')
    assert attributes['logfire.msg'].startswith('login with [Scrubbed')


def test_code_location_and_timestamp_come_from_the_record(capfire: CaptureLogfire, shop: logging.Logger) -> None:
    seen: list[logging.LogRecord] = []

    def keep(record: logging.LogRecord) -> bool:
        seen.append(record)
        return True

    shop.addFilter(keep)
    try:
        helper_that_logs(shop)
    finally:
        shop.removeFilter(keep)

    [record] = seen
    [span] = capfire.exporter.exported_spans
    attributes = dict(span.attributes or {})
    assert (attributes['code.lineno'], attributes['code.function']) == (record.lineno, 'helper_that_logs')
    assert str(attributes['code.filepath']).endswith('test_logging_handler.py')
    assert span.start_time == span.end_time == int(record.created * 1e9)


def helper_that_logs(logger: logging.Logger) -> None:
    logger.warning('from a helper')


def test_logfire_and_opentelemetry_records_go_to_the_fallback(
    capfire: CaptureLogfire, fallback: Collect, shop: logging.Logger
) -> None:
    handler = shop.handlers[0]
    for name in ('logfire', 'logfire.export', 'opentelemetry.sdk.trace', 'logfire_app'):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.propagate = False
        try:
            logger.warning('from %s', name)
        finally:
            logger.removeHandler(handler)
            logger.propagate = True

    assert [r.getMessage() for r in fallback.records] == [
        'from logfire',
        'from logfire.export',
        'from opentelemetry.sdk.trace',
    ]
    assert [log['attributes']['logfire.msg'] for log in logs(capfire)] == ['from logfire_app']


def test_records_made_while_instrumentation_is_suppressed_go_to_the_fallback(
    capfire: CaptureLogfire, fallback: Collect, shop: logging.Logger
) -> None:
    with logfire.suppress_instrumentation():
        shop.info('while exporting')

    assert [r.getMessage() for r in fallback.records] == ['while exporting']
    assert capfire.exporter.exported_spans == []


def test_a_record_made_while_the_handler_is_busy_goes_to_the_fallback(
    capfire: CaptureLogfire, fallback: Collect, shop: logging.Logger
) -> None:
    class Noisy:
        def __repr__(self) -> str:
            shop.warning('logged while encoding')  # re-enters the handler on the same thread
            return 'Noisy()'

    shop.info('with a noisy value', extra={'value': Noisy()})

    assert [r.getMessage() for r in fallback.records] == ['logged while encoding']
    assert [log['attributes']['logfire.msg'] for log in logs(capfire)] == ['with a noisy value']


def test_records_before_configure_go_to_the_fallback_and_after_it_become_logs() -> None:
    code = """
import logging, sys
import logfire
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

handler = logfire.LogfireLoggingHandler(fallback=logging.StreamHandler(sys.stdout))
logging.basicConfig(handlers=[handler], level=logging.INFO)
logging.info('early %s', 1)
exporter = InMemorySpanExporter()
logfire.configure(send_to_logfire=False, console=False, additional_span_processors=[SimpleSpanProcessor(exporter)])
logging.info('late %s', 2)
print('spans:', [s.attributes['logfire.msg'] for s in exporter.get_finished_spans()])
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ['early 1', "spans: ['late 2']"]
    assert 'LogfireNotConfiguredWarning' not in result.stderr


def test_a_handler_error_is_contained_and_reported_once(
    capfire: CaptureLogfire, shop: logging.Logger, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import logfire._internal.logging_handler as module

    def broken(path: str) -> str:
        raise RuntimeError('bug')

    monkeypatch.setattr(module, 'display_path', broken)
    shop.info('one')
    shop.info('two')  # no exception reaches the caller

    assert capfire.exporter.exported_spans == []
    assert [r.getMessage() for r in caplog.records if 'logging handler' in r.getMessage()][:1]
