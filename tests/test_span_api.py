"""Stories about spans, logs, levels, tags, @instrument and metrics, observed on exported spans."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from inline_snapshot import snapshot
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import StatusCode

import logfire
import logfire.exceptions
from logfire.testing import CaptureLogfire, TestExporter

from .conftest import needs_fstring_inspection


def spans(capfire: CaptureLogfire) -> list[dict[str, Any]]:
    return capfire.exporter.exported_spans_as_dict()


def test_info_log_is_a_zero_duration_span_with_logfire_attributes(capfire: CaptureLogfire) -> None:
    logfire.info('hello {name}', name='world')
    assert spans(capfire) == snapshot(
        [
            {
                'name': 'hello {name}',
                'context': {'trace_id': 1, 'span_id': 1, 'is_remote': False},
                'parent': None,
                'start_time': 1000000000,
                'end_time': 1000000000,
                'attributes': {
                    'name': 'world',
                    'code.filepath': 'test_span_api.py',
                    'code.lineno': 123,
                    'code.function': 'test_info_log_is_a_zero_duration_span_with_logfire_attributes',
                    'logfire.msg_template': 'hello {name}',
                    'logfire.msg': 'hello world',
                    'logfire.json_schema': '{"type":"object","properties":{"name":{}}}',
                    'logfire.span_type': 'log',
                    'logfire.level_num': 9,
                },
            }
        ]
    )


def test_span_nests_logs_and_records_tags(capfire: CaptureLogfire) -> None:
    with logfire.span('outer {n}', n=1, _tags=['a', 'b']) as span:
        logfire.debug('inside')
        assert span.message == 'outer 1'
        assert span.tags == ('a', 'b')
        assert span.is_recording()
    outer = spans(capfire)[-1]
    inner = spans(capfire)[0]
    assert outer['name'] == 'outer {n}'
    assert outer['attributes']['logfire.span_type'] == 'span'
    assert outer['attributes']['logfire.tags'] == ('a', 'b')
    assert 'logfire.level_num' not in outer['attributes']
    assert inner['parent'] == outer['context']
    assert inner['attributes']['logfire.level_num'] == 5
    assert (outer['start_time'], inner['start_time'], outer['end_time']) == (1000000000, 2000000000, 3000000000)


@pytest.mark.parametrize(
    ('method', 'level'),
    [
        ('trace', 1),
        ('debug', 5),
        ('info', 9),
        ('notice', 10),
        ('warn', 13),
        ('warning', 13),
        ('error', 17),
        ('fatal', 21),
    ],
)
def test_each_level_method_writes_its_level_number(capfire: CaptureLogfire, method: str, level: int) -> None:
    getattr(logfire, method)('message')
    [span] = capfire.exporter.exported_spans
    assert span.attributes is not None and span.attributes['logfire.level_num'] == level
    assert span.status.status_code == (StatusCode.ERROR if level >= 17 else StatusCode.UNSET)


def test_log_accepts_level_names_numbers_and_warns_on_unknown_names(capfire: CaptureLogfire) -> None:
    logfire.log('notice', 'by name {x}', {'x': 1}, tags=['t'])
    logfire.log(15, 'by number')
    with pytest.warns(UserWarning, match="Unknown log level 'loud'"):
        logfire.log('loud', 'unknown')  # pyright: ignore[reportArgumentType]
    levels = [s['attributes']['logfire.level_num'] for s in spans(capfire)]
    assert levels == [10, 15, 17]
    assert spans(capfire)[0]['attributes']['logfire.tags'] == ('t',)


def test_exception_escaping_a_span_is_recorded_and_propagates(capfire: CaptureLogfire) -> None:
    with pytest.raises(ValueError, match='bad input'):
        with logfire.span('work'):
            raise ValueError('bad input')
    [span] = capfire.exporter.exported_spans
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes is not None and span.attributes['logfire.level_num'] == 17
    [event] = span.events
    assert event.name == 'exception'
    assert event.attributes is not None
    assert event.attributes['exception.type'] == 'ValueError'
    assert event.attributes['exception.message'] == 'bad input'
    assert 'Traceback' in str(event.attributes['exception.stacktrace'])


def test_exception_log_records_the_handled_exception(capfire: CaptureLogfire) -> None:
    try:
        {}['missing']
    except KeyError:
        logfire.exception('lookup failed {key}', key='missing')
    [span] = capfire.exporter.exported_spans
    assert span.status.status_code == StatusCode.ERROR
    assert [e.name for e in span.events] == ['exception']
    assert span.events[0].attributes is not None and span.events[0].attributes['exception.type'] == 'KeyError'


def test_exc_info_on_a_log_outside_except_records_nothing(capfire: CaptureLogfire) -> None:
    logfire.info('no exception here', _exc_info=True)
    assert capfire.exporter.exported_spans[0].events == ()


def test_reserved_attribute_names_raise_value_error(capfire: CaptureLogfire) -> None:
    with pytest.raises(ValueError, match="reserved for options, got '_private'"):
        logfire.info('x', _private=1)
    with pytest.raises(ValueError, match='reserved'):
        logfire.span('x', _secret=1)
    assert capfire.exporter.exported_spans == []


def test_log_with_an_attributes_dict_records_underscore_names(capfire: CaptureLogfire) -> None:
    logfire.log('info', 'test {_foo=}', attributes={'_foo': 'bar'})
    [span] = spans(capfire)
    assert span['attributes']['_foo'] == 'bar'
    assert span['attributes']['logfire.msg'] == 'test _foo=bar'


@pytest.mark.parametrize('template', ['{missing}', '{', '}', '{0}', '{a!x}', '{a:>>>}', '{a.nope}', '{a[9]}'])
def test_malformed_template_never_raises_and_keeps_the_template(capfire: CaptureLogfire, template: str) -> None:
    with pytest.warns(UserWarning, match='Formatting'):
        logfire.info(template, a=[1])
    [span] = spans(capfire)
    assert span['attributes']['logfire.msg'] == template


def test_format_spec_conversion_and_lookups_fill_the_message(capfire: CaptureLogfire) -> None:
    logfire.info('{x:.2f} {s!r} {d[k]} {o.real} {x=}', x=3.14159, s='q', d={'k': 'v'}, o=5)
    assert spans(capfire)[0]['attributes']['logfire.msg'] == "3.14 'q' v 5 x=3.14159"


def test_unrepresentable_attribute_is_contained(capfire: CaptureLogfire) -> None:
    class Evil:
        def __repr__(self) -> str:
            raise RuntimeError('no repr')

        def __format__(self, spec: str) -> str:
            raise RuntimeError('no format')

    with pytest.warns(UserWarning, match='Formatting'):
        logfire.info('value {v}', v=Evil())
    [span] = spans(capfire)
    assert span['attributes']['logfire.msg'] == 'value {v}'
    assert isinstance(span['attributes']['v'], str)


@needs_fstring_inspection
def test_fstring_message_becomes_template_and_attributes(capfire: CaptureLogfire) -> None:
    name, n = 'world', 2
    logfire.info(f'hello {name} {n + 1}')
    [span] = spans(capfire)
    assert span['name'] == 'hello {name} {n + 1}'
    assert span['attributes']['logfire.msg_template'] == 'hello {name} {n + 1}'
    assert span['attributes']['logfire.msg'] == 'hello world 3'
    assert span['attributes']['name'] == 'world'
    assert span['attributes']['n + 1'] == 3


def test_min_level_drops_lower_spans_and_logs() -> None:
    exporter = TestExporter()
    lf = logfire.configure(
        local=True, console=False, min_level='warn', additional_span_processors=[SimpleSpanProcessor(exporter)]
    )
    lf.info('dropped')
    lf.warn('kept')
    with lf.span('dropped span', _level='debug') as span:
        assert not span.is_recording()
    with lf.span('plain span'):
        pass
    assert [s.name for s in exporter.exported_spans] == ['kept', 'plain span']
    lf.shutdown()


def test_set_attribute_and_level_after_start(capfire: CaptureLogfire) -> None:
    with logfire.span('s') as span:
        span.set_attribute('user', {'id': 1})
        span.set_attributes({'count': 2})
        span.set_level('warn')
        span.tags = ['late']
    [s] = spans(capfire)
    assert s['attributes']['user'] == '{"id":1}'
    assert s['attributes']['count'] == 2
    assert s['attributes']['logfire.level_num'] == 13
    assert s['attributes']['logfire.tags'] == ('late',)
    assert '"user":{"type":"object"' in s['attributes']['logfire.json_schema']


def test_spans_nest_correctly_in_async_tasks(capfire: CaptureLogfire) -> None:
    async def job(i: int) -> None:
        async with logfire.span('job {i}', i=i):
            await asyncio.sleep(0)
            logfire.info('step {i}', i=i)

    async def main() -> None:
        with logfire.span('root'):
            await asyncio.gather(job(1), job(2))

    asyncio.run(main())
    by_msg = {s['attributes']['logfire.msg']: s for s in spans(capfire)}
    for i in (1, 2):
        assert by_msg[f'step {i}']['parent'] == by_msg[f'job {i}']['context']
        assert by_msg[f'job {i}']['parent'] == by_msg['root']['context']


def test_threads_start_their_own_traces(capfire: CaptureLogfire) -> None:
    def work(i: int) -> None:
        with logfire.span('thread {i}', i=i):
            logfire.info('in thread')

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    exported = spans(capfire)
    assert len(exported) == 8
    roots = [s for s in exported if s['name'] == 'thread {i}']
    assert len({s['context']['trace_id'] for s in roots}) == 4
    assert all(s['parent'] is None for s in roots)


def test_instrument_records_arguments_and_return(capfire: CaptureLogfire) -> None:
    @logfire.instrument('adding {a} and {b}', record_return=True)
    def add(a: int, b: int = 2) -> int:
        return a + b

    assert add(1) == 3
    [span] = spans(capfire)
    assert span['name'] == 'adding {a} and {b}'
    assert span['attributes']['logfire.msg'] == 'adding 1 and 2'
    assert (span['attributes']['a'], span['attributes']['b'], span['attributes']['return']) == (1, 2, 3)
    assert span['attributes']['code.function'].endswith('add')


def test_bare_instrument_uses_the_default_template_and_extract_args_list(capfire: CaptureLogfire) -> None:
    @logfire.instrument
    def plain(x: int) -> int:
        return x

    @logfire.instrument(extract_args=['keep'], span_name='custom')
    async def picky(keep: str, drop: str) -> str:
        return keep + drop

    plain(1)
    assert asyncio.run(picky('a', 'b')) == 'ab'
    first, second = spans(capfire)
    assert first['attributes']['logfire.msg_template'].startswith('Calling tests.test_span_api.')
    assert first['attributes']['logfire.msg_template'].endswith('plain')
    assert first['attributes']['x'] == 1
    assert second['name'] == 'custom'
    assert second['attributes']['keep'] == 'a' and 'drop' not in second['attributes']


def test_instrument_warns_for_generators_unless_allowed(capfire: CaptureLogfire) -> None:
    with pytest.warns(UserWarning, match='generator function') as caught:

        @logfire.instrument
        def gen() -> Any:
            yield 1

    assert caught[0].filename == __file__  # where the decorator is, as the established SDK points

    @logfire.instrument(allow_generator=True)
    def allowed() -> Any:
        yield 2

    assert list(gen()) == [1]
    assert list(allowed()) == [2]
    assert len(spans(capfire)) == 2


def test_instrumented_function_exception_propagates(capfire: CaptureLogfire) -> None:
    @logfire.instrument
    def fails() -> None:
        raise RuntimeError('x')

    with pytest.raises(RuntimeError):
        fails()
    assert capfire.exporter.exported_spans[0].status.status_code == StatusCode.ERROR


def test_with_tags_and_with_settings_share_the_configuration(capfire: CaptureLogfire) -> None:
    tagged = logfire.with_tags('billing')
    tagged.info('a', _tags=['extra'])
    logfire.with_settings(tags=['x'], console_log=False).info('b')
    a, b = spans(capfire)
    assert a['attributes']['logfire.tags'] == ('billing', 'extra')
    assert b['attributes']['logfire.tags'] == ('x',)
    assert b['attributes']['logfire.disable_console_log'] is True


def test_suppress_instrumentation_creates_no_spans(capfire: CaptureLogfire) -> None:
    with logfire.suppress_instrumentation():
        logfire.info('hidden')
        with logfire.span('hidden span'):
            pass
    logfire.info('visible')
    assert [s['name'] for s in spans(capfire)] == ['visible']


def test_metrics_reach_the_shared_meter_provider(capfire: CaptureLogfire) -> None:
    from opentelemetry.metrics import CallbackOptions, Observation

    def observe(options: CallbackOptions) -> list[Observation]:
        return [Observation(7)]

    logfire.metric_counter('requests', unit='1').add(2)
    logfire.metric_histogram('latency', unit='s').record(0.5)
    logfire.metric_gauge('temperature').set(21)
    logfire.metric_up_down_counter('queue').add(-1)
    logfire.metric_gauge_callback('observed', callbacks=[observe])
    names = {m['name'] for m in capfire.get_collected_metrics()}
    assert names >= {'requests', 'latency', 'temperature', 'queue', 'observed'}


def test_metric_callbacks_are_accepted_by_position_or_keyword(capfire: CaptureLogfire) -> None:
    from opentelemetry.metrics import CallbackOptions, Observation

    def observe(options: CallbackOptions) -> list[Observation]:
        return [Observation(3)]

    logfire.metric_counter_callback('by_position_counter', [observe], unit='1')
    logfire.metric_gauge_callback('by_position_gauge', [observe])
    logfire.metric_up_down_counter_callback('by_position_up_down', [observe], description='d')
    logfire.metric_counter_callback('by_keyword_counter', callbacks=[observe])
    names = {m['name'] for m in capfire.get_collected_metrics()}
    assert names >= {'by_position_counter', 'by_position_gauge', 'by_position_up_down', 'by_keyword_counter'}


def test_metrics_false_makes_instruments_no_ops() -> None:
    from opentelemetry.metrics import NoOpMeterProvider

    lf = logfire.configure(local=True, console=False, metrics=False)
    lf.metric_counter('nothing').add(1)  # no error, nothing recorded
    assert lf.config.pipeline is not None and isinstance(lf.config.pipeline.meter_provider, NoOpMeterProvider)
    lf.shutdown()


def test_links_accept_pairs_and_otel_links(capfire: CaptureLogfire) -> None:
    with logfire.span('first') as first:
        pass
    context = first.get_span_context()
    assert context is not None
    with logfire.span('second', _links=[(context, {'why': 'retry'})]):
        pass
    second = capfire.exporter.exported_spans[-1]
    assert second.links[0].context.span_id == context.span_id
    assert second.links[0].attributes == {'why': 'retry'}


def test_a_log_carrying_a_websocket_status_code_loses_it_as_instrumentation_spans_do(capfire: CaptureLogfire) -> None:
    logfire.log('info', 'message on {path}', {'path': '/ws', 'http.scheme': 'ws', 'http.status_code': 200})
    logfire.log('info', 'response from {path}', {'path': '/', 'http.scheme': 'http', 'http.status_code': 200})
    websocket, http = (span['attributes'] for span in capfire.exporter.exported_spans_as_dict())
    assert 'http.status_code' not in websocket
    assert http['http.status_code'] == 200


def test_odd_inputs_never_raise_into_user_code(capfire: CaptureLogfire) -> None:
    logfire.log('info', 'numeric keys', {1: 'a'})  # pyright: ignore[reportArgumentType]
    with logfire.span('s') as span, pytest.warns(UserWarning, match="Unknown level 'nope'"):
        span.set_level('nope')  # pyright: ignore[reportArgumentType]
    assert dict(capfire.exporter.exported_spans[-1].attributes or {})['logfire.level_num'] == 17
    assert len(capfire.exporter.exported_spans) == 2


def test_compatibility_parameters_of_the_established_sdk(capfire: CaptureLogfire) -> None:
    @logfire.instrument(new_trace=True)
    def job() -> None:
        pass

    with logfire.span('outer {x}', x=1) as outer:
        job()
        logfire.log('info', 'quiet', console_log=False)
    assert outer.message_template == 'outer {x}'
    exported = {s['name']: s for s in spans(capfire)}
    job_span = next(s for name, s in exported.items() if name.endswith('job'))
    assert job_span['parent'] is None
    assert job_span['context']['trace_id'] != exported['outer {x}']['context']['trace_id']
    assert exported['quiet']['attributes']['logfire.disable_console_log'] is True
    logfire.configure(local=True, console=logfire.ConsoleOptions(show_project_link=False)).shutdown()
    with pytest.raises(logfire.exceptions.LogfireConfigError, match=r'SamplingOptions\(tail=\.\.\.\)\)=0\.5'):
        logfire.configure(local=True, console=False, sampling=logfire.SamplingOptions(tail=0.5))  # pyright: ignore[reportArgumentType]


def test_exception_callback_sees_recorded_exceptions_and_cannot_break_anything() -> None:
    seen: list[BaseException] = []

    def callback(exc: Any) -> None:
        seen.append(exc)
        raise RuntimeError('callback bug')

    lf = logfire.configure(local=True, console=False, advanced=logfire.AdvancedOptions(exception_callback=callback))
    with pytest.raises(KeyError):
        with lf.span('work'):
            raise KeyError('k')
    try:
        raise ZeroDivisionError('division by zero')
    except ZeroDivisionError:
        lf.exception('failed')
    assert [type(e) for e in seen] == [KeyError, ZeroDivisionError]
    lf.shutdown()
