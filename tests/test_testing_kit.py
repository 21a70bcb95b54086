"""`logfire.testing`: the dict shapes tests compare against."""

from __future__ import annotations

import os
import sys

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import logfire
from logfire.testing import CaptureLogfire, get_collected_metrics


def test_parse_json_attributes_turns_json_values_into_python_ones(capfire: CaptureLogfire) -> None:
    logfire.info('order {order}', order={'id': 1, 'items': ['a']}, note='{not json')
    [raw] = capfire.exporter.exported_spans_as_dict()
    [parsed] = capfire.exporter.exported_spans_as_dict(parse_json_attributes=True)
    assert raw['attributes']['order'] == '{"id":1,"items":["a"]}'
    assert parsed['attributes']['order'] == {'id': 1, 'items': ['a']}
    assert parsed['attributes']['logfire.json_schema']['properties']['order']['type'] == 'object'
    assert parsed['attributes']['note'] == '{not json'  # left as it is
    assert parsed['attributes']['logfire.msg'] == raw['attributes']['logfire.msg']


def test_include_resources_adds_the_resource_attributes(capfire: CaptureLogfire) -> None:
    logfire.info('x')
    [span] = capfire.exporter.exported_spans_as_dict(include_resources=True)
    assert span['resource']['attributes']['telemetry.sdk.language'] == 'python'
    assert 'resource' not in capfire.exporter.exported_spans_as_dict()[0]


def test_get_collected_metrics_reads_any_in_memory_reader() -> None:
    reader = InMemoryMetricReader()
    local = logfire.configure(local=True, console=False, metrics=logfire.MetricsOptions(additional_readers=[reader]))
    counter = local.metric_counter('orders', unit='1', description='Orders placed')
    counter.add(2)
    counter.add(1, {'region': 'eu'})
    [metric] = get_collected_metrics(reader)
    local.shutdown()
    assert (metric['name'], metric['unit'], metric['description']) == ('orders', '1', 'Orders placed')
    points = {tuple(sorted(p['attributes'].items())): p['value'] for p in metric['data']['data_points']}
    assert points == {(): 2, (('region', 'eu'),): 1}


def test_capfire_collects_metrics_the_same_way(capfire: CaptureLogfire) -> None:
    logfire.metric_counter('hits').add(1)
    [via_fixture] = capfire.get_collected_metrics()
    [via_function] = get_collected_metrics(capfire.metrics_reader)
    assert via_fixture['name'] == via_function['name'] == 'hits'
    assert via_fixture['data']['data_points'][0]['value'] == via_function['data']['data_points'][0]['value'] == 1


def test_exported_spans_as_dict_has_the_documented_shape(capfire: CaptureLogfire) -> None:
    with pytest.raises(Exception, match='an exception!'):
        with logfire.span('a span!'):
            logfire.info('a log!')
            raise Exception('an exception!')

    log, span = capfire.exporter.exported_spans_as_dict()

    assert log == {
        'name': 'a log!',
        'context': {'trace_id': 1, 'span_id': 2, 'is_remote': False},
        'parent': {'trace_id': 1, 'span_id': 1, 'is_remote': False},
        'start_time': 2_000_000_000,
        'end_time': 2_000_000_000,
        'attributes': {
            'code.filepath': 'test_testing_kit.py',
            'code.lineno': 123,
            'code.function': 'test_exported_spans_as_dict_has_the_documented_shape',
            'logfire.msg_template': 'a log!',
            'logfire.msg': 'a log!',
            'logfire.span_type': 'log',
            'logfire.level_num': 9,
        },
    }
    assert list(span) == ['name', 'context', 'parent', 'start_time', 'end_time', 'attributes', 'events']
    assert (span['start_time'], span['end_time']) == (1_000_000_000, 4_000_000_000)
    [event] = span['events']
    assert event['name'] == 'exception' and event['timestamp'] == 3_000_000_000
    assert event['attributes']['exception.stacktrace'] == 'Exception: an exception!'  # its last line only
    assert (event['attributes']['exception.type'], event['attributes']['exception.message']) == (
        'Exception',
        'an exception!',
    )


def test_links_and_events_without_attributes_are_listed_as_in_the_established_sdk(capfire: CaptureLogfire) -> None:
    with logfire.span('first') as first:
        first.add_event('plain')
    assert first.context is not None
    with logfire.span('second', _links=[(first.context, {'why': 'retry'})]):
        pass

    first_dict, second_dict = capfire.exporter.exported_spans_as_dict()

    assert first_dict['events'] == [{'name': 'plain', 'timestamp': 2_000_000_000}]
    assert 'links' not in first_dict
    assert second_dict['links'] == [
        {'context': {'trace_id': 1, 'span_id': 1, 'is_remote': False}, 'attributes': {'why': 'retry'}}
    ]


class Greeter:
    @logfire.instrument
    def greet(self) -> str:
        return 'hi'


def test_values_that_change_between_runs_or_python_versions_are_normalised(capfire: CaptureLogfire) -> None:
    Greeter().greet()

    [span] = capfire.exporter.exported_spans_as_dict(include_resources=True)
    [raw] = capfire.exporter.exported_spans

    assert (raw.attributes or {})['code.function'] == 'Greeter.greet' or sys.version_info < (3, 11)
    assert span['attributes']['code.function'] == 'greet'
    resource = span['resource']['attributes']
    assert raw.resource.attributes['process.pid'] == os.getpid()
    assert (resource['process.pid'], resource['telemetry.sdk.version']) == (1234, '0.0.0')
    assert resource['service.instance.id'] == '0' * 32


def test_real_file_paths_and_line_numbers_can_be_kept(capfire: CaptureLogfire) -> None:
    logfire.info('here')

    [normalised] = capfire.exporter.exported_spans_as_dict()
    [real] = capfire.exporter.exported_spans_as_dict(fixed_line_number=None, strip_filepaths=False)

    assert (normalised['attributes']['code.filepath'], normalised['attributes']['code.lineno']) == (
        'test_testing_kit.py',
        123,
    )
    assert real['attributes']['code.filepath'].endswith('tests/test_testing_kit.py')
    assert real['attributes']['code.filepath'] != 'test_testing_kit.py'
    assert (
        real['attributes']['code.lineno']
        == test_real_file_paths_and_line_numbers_can_be_kept.__code__.co_firstlineno + 1
    )
