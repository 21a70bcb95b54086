"""`Logfire`'s metric instruments, made on the shared meter (a no-op one until `configure()` turns metrics on).

The `*_callback` methods take `callbacks` by position or by keyword: the established SDK makes it keyword-only,
OpenTelemetry's `create_observable_*` take it second, and both spellings are common in user code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.metrics import (
        CallbackT,
        Counter,
        Histogram,
        Meter,
        ObservableCounter,
        ObservableGauge,
        ObservableUpDownCounter,
        UpDownCounter,
    )
    from opentelemetry.metrics import _Gauge as Gauge


class MetricMethods:
    """Mixin of `Logfire` holding one method per kind of metric instrument."""

    _meter: Meter

    def metric_counter(self, name: str, *, unit: str = '', description: str = '') -> Counter:
        """Create a counter: a monotonically increasing sum (`.add(1)`)."""
        return self._meter.create_counter(name, unit, description)

    def metric_histogram(self, name: str, *, unit: str = '', description: str = '') -> Histogram:
        """Create a histogram: a distribution of recorded values (`.record(0.25)`)."""
        return self._meter.create_histogram(name, unit, description)

    def metric_gauge(self, name: str, *, unit: str = '', description: str = '') -> Gauge:
        """Create a gauge: the last value set (`.set(42)`)."""
        return self._meter.create_gauge(name, unit, description)

    def metric_up_down_counter(self, name: str, *, unit: str = '', description: str = '') -> UpDownCounter:
        """Create an up-down counter: a sum that can also decrease (`.add(-1)`)."""
        return self._meter.create_up_down_counter(name, unit, description)

    def metric_counter_callback(
        self, name: str, callbacks: Sequence[CallbackT], *, unit: str = '', description: str = ''
    ) -> ObservableCounter:
        """Create an observable counter whose `callbacks` report the total when metrics are collected."""
        return self._meter.create_observable_counter(name, callbacks, unit, description)

    def metric_gauge_callback(
        self, name: str, callbacks: Sequence[CallbackT], *, unit: str = '', description: str = ''
    ) -> ObservableGauge:
        """Create an observable gauge whose `callbacks` report the value when metrics are collected."""
        return self._meter.create_observable_gauge(name, callbacks, unit, description)

    def metric_up_down_counter_callback(
        self, name: str, callbacks: Sequence[CallbackT], *, unit: str = '', description: str = ''
    ) -> ObservableUpDownCounter:
        """Create an observable up-down counter whose `callbacks` report the value when metrics are collected."""
        return self._meter.create_observable_up_down_counter(name, callbacks, unit, description)
