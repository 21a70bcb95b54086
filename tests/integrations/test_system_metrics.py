"""Stories about `logfire.instrument_system_metrics()`: the metrics reach an OTLP receiver like any other."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..conftest import clean_env, run_python
from ..otlp_receiver import OTLPReceiver


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as rx:
        yield rx


def exported_metric_names(receiver: OTLPReceiver, call: str) -> set[str]:
    code = f'import logfire\nlogfire.configure()\n{call}\n{call}\nlogfire.shutdown()\n'
    env = clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, LOGFIRE_SEND_TO_LOGFIRE='false', LOGFIRE_CONSOLE='false'
    )
    result = run_python(code, env=env)
    assert result.returncode == 0, result.stderr
    receiver.wait_until(lambda: bool(receiver.metrics()), description='metrics')
    return {metric.name for metric in receiver.metrics()}


def test_basic_metrics_are_exported_over_otlp(receiver: OTLPReceiver) -> None:
    names = exported_metric_names(receiver, 'logfire.instrument_system_metrics()')
    assert names >= {
        'process.cpu.utilization',
        'system.cpu.simple_utilization',
        'system.memory.utilization',
        'system.swap.utilization',
    }
    assert 'system.network.io' not in names


def test_full_adds_everything_and_config_picks_metrics(receiver: OTLPReceiver) -> None:
    names = exported_metric_names(receiver, "logfire.instrument_system_metrics(base='full')")
    assert names >= {'system.cpu.simple_utilization', 'system.memory.usage', 'process.memory.usage', 'system.disk.io'}


def test_config_alone_records_only_what_it_names(receiver: OTLPReceiver) -> None:
    names = exported_metric_names(
        receiver, "logfire.instrument_system_metrics({'process.memory.usage': None}, base=None)"
    )
    assert names == {'process.memory.usage'}


def test_an_unknown_base_is_refused() -> None:
    import logfire

    with pytest.raises(ValueError, match="base must be 'basic', 'full' or None"):
        logfire.instrument_system_metrics(base='most')  # pyright: ignore[reportArgumentType]
