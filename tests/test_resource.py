"""The resource every span carries: service, process, runtime, OS and host, detected at `configure()`."""

from __future__ import annotations

import platform
import socket
import sys
from typing import Any

import pytest
from opentelemetry.sdk.resources import OsResourceDetector, Resource, ResourceDetector
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import logfire
from logfire.exceptions import LogfireConfigError
from logfire.testing import TestExporter
from logfire.version import VERSION

from .otlp_receiver import OTLPReceiver


def test_exported_resource_names_the_host_os_runtime_and_logfire_version(monkeypatch: pytest.MonkeyPatch) -> None:
    with OTLPReceiver() as receiver:
        monkeypatch.setenv('OTEL_EXPORTER_OTLP_ENDPOINT', receiver.endpoint)
        local = logfire.configure(local=True, send_to_logfire=False, console=False, service_name='svc')
        local.info('hello')
        assert local.force_flush(timeout_millis=5000)
        [span] = receiver.wait_for_spans(1)
        local.shutdown()
    resource = span.resource_attributes
    assert resource['service.name'] == 'svc'
    assert resource['host.name'] == socket.gethostname()
    assert resource['host.arch'] == platform.machine()
    assert resource['os.type'] == platform.system().lower()
    assert resource['os.version']
    assert resource['process.runtime.name'] == sys.implementation.name
    assert resource['process.runtime.version'].startswith('.'.join(map(str, sys.version_info[:2])))
    assert resource['process.runtime.description'] == sys.version
    assert resource['logfire.version'] == VERSION
    assert 'process.command_line' not in resource  # command-line arguments may hold secrets


class RegionDetector(ResourceDetector):
    def detect(self) -> Resource:
        return Resource({'cloud.region': 'eu-west-1', 'service.name': 'detected'})


class BrokenDetector(ResourceDetector):
    def detect(self) -> Resource:
        raise RuntimeError('metadata server unreachable')


def resource_of(detectors: list[ResourceDetector], service_name: str | None = None) -> dict[str, Any]:
    exporter = TestExporter()
    local = logfire.configure(
        local=True,
        console=False,
        service_name=service_name,
        additional_span_processors=[SimpleSpanProcessor(exporter)],
        advanced=logfire.AdvancedOptions(resource_detectors=detectors),
    )
    local.info('x')
    local.shutdown()
    [span] = exporter.exported_spans_as_dict(include_resources=True)
    return span['resource']['attributes']


def test_resource_detectors_replace_the_default_ones_and_yield_to_settings() -> None:
    resource = resource_of([RegionDetector(), OsResourceDetector()], service_name='svc')
    assert resource['cloud.region'] == 'eu-west-1'
    assert resource['service.name'] == 'svc'
    assert 'os.type' in resource
    assert 'host.name' not in resource and 'process.runtime.name' not in resource


def test_no_resource_detectors_detects_nothing() -> None:
    resource = resource_of([])
    assert not any(key.startswith(('host.', 'os.', 'process.runtime.')) for key in resource)
    assert resource['logfire.version'] == VERSION


def test_a_failing_resource_detector_is_reported_and_the_others_still_count(caplog: pytest.LogCaptureFixture) -> None:
    resource = resource_of([BrokenDetector(), RegionDetector()])
    assert resource['cloud.region'] == 'eu-west-1'
    assert 'BrokenDetector.detect' in caplog.text and 'metadata server unreachable' in caplog.text


def test_resource_detectors_must_be_detectors() -> None:
    with pytest.raises(LogfireConfigError, match='ResourceDetector'):
        logfire.configure(local=True, console=False, advanced=logfire.AdvancedOptions(resource_detectors=['os']))  # pyright: ignore[reportArgumentType]
