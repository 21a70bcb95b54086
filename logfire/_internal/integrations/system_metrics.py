"""System metrics: OpenTelemetry's system-metrics instrumentation (psutil) on logfire's shared meter provider.

`base='basic'` is a few gauges worth having everywhere (process CPU, system CPU, memory and swap); `'full'` is
everything the instrumentation offers, plus the same simple CPU gauge. `config` adds to (or, mapping a metric to
its own fields, changes) the base. `system.cpu.simple_utilization` is logfire's own: the share of all CPUs in use,
from `psutil.cpu_percent()`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal

import psutil
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.system_metrics import (
    _DEFAULT_CONFIG,  # pyright: ignore[reportPrivateUsage]  (what 'full' is: the instrumentation's own default)
    SystemMetricsInstrumentor,
)
from opentelemetry.metrics import CallbackOptions, Observation

if TYPE_CHECKING:
    from . import SharedProviders

__all__ = ['BASIC_CONFIG', 'Base', 'Config', 'full_config', 'instrument']

Config = dict[str, 'list[str] | None']
"""Metric name -> the fields (labels) to record, or None for a metric without fields."""
Base = Literal['basic', 'full'] | None

SIMPLE_CPU: Final = 'system.cpu.simple_utilization'
BASIC_CONFIG: Final[Config] = {
    'process.cpu.utilization': None,
    SIMPLE_CPU: None,
    'system.memory.utilization': ['available'],
    'system.swap.utilization': ['used'],
}
"""What `base='basic'` records, as in the established SDK."""


def full_config() -> Config:
    """What `base='full'` records: every metric of the instrumentation with all its fields, and the simple CPU."""
    config: Config = {SIMPLE_CPU: None, **{k: None if v is None else list(v) for k, v in _DEFAULT_CONFIG.items()}}
    config['system.memory.utilization'] = [*(config['system.memory.utilization'] or []), 'available']
    return config


def instrument(providers: SharedProviders, config: Config | None, base: Base, /) -> None:
    """Record the metrics of `base` and `config` on the shared meter provider; a second call does nothing."""
    if base not in ('basic', 'full', None):
        raise ValueError(f"base must be 'basic', 'full' or None, not {base!r}")
    if _instrumented(SystemMetricsInstrumentor):
        return  # constructing it again would reset the running instrumentation's config (it is a singleton)
    chosen: Config = {
        **(BASIC_CONFIG if base == 'basic' else full_config() if base == 'full' else {}),
        **(config or {}),
    }
    instrumentor = SystemMetricsInstrumentor(config={k: v for k, v in chosen.items() if k != SIMPLE_CPU})
    instrumentor.instrument(meter_provider=providers.meter_provider)
    if SIMPLE_CPU in chosen:
        psutil.cpu_percent()  # the first call starts the interval the next one measures
        providers.meter_provider.get_meter('logfire.system_metrics').create_observable_gauge(
            SIMPLE_CPU,
            callbacks=[_simple_cpu],
            unit='1',
            description='The share of all CPUs in use, from 0 to 1.',
        )


def _instrumented(instrumentor_class: type[BaseInstrumentor]) -> bool:
    """Whether the singleton instrumentor has been made and is instrumented, without making it."""
    instance = getattr(instrumentor_class, '_instance', None)
    return isinstance(instance, BaseInstrumentor) and instance.is_instrumented_by_opentelemetry


def _simple_cpu(options: CallbackOptions) -> list[Observation]:
    return [Observation(psutil.cpu_percent() / 100)]
