"""`logfire.testing`: the dict shapes tests compare against."""

from __future__ import annotations

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
