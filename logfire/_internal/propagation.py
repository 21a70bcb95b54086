"""Incoming trace context: join it, join it and say so once, or ignore it (`distributed_tracing`)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)

from .errors import logger

if TYPE_CHECKING:
    from .state import LogfireState


class DistributedTracingPropagator(TextMapPropagator):
    """Wraps the global propagator so `extract()` follows the current `distributed_tracing` setting."""

    def __init__(self, wrapped: TextMapPropagator, state: LogfireState) -> None:
        self.wrapped = wrapped
        self.state = state
        self._warned = False
        self._lock = threading.Lock()

    def extract(
        self, carrier: CarrierT, context: Context | None = None, getter: Getter[CarrierT] = default_getter
    ) -> Context:
        """Extract incoming context unless `distributed_tracing=False`; warn once when joining by default."""
        config = self.state.config
        setting = config.settings.distributed_tracing if config is not None else None
        if setting is False:
            return context if context is not None else Context()
        extracted = self.wrapped.extract(carrier, context, getter)
        if setting is None and not self._warned and trace.get_current_span(extracted).get_span_context().is_valid:
            with self._lock:
                first, self._warned = not self._warned, True
            if first:
                logger.warning(
                    'Joined a trace started by an incoming request (W3C trace context). This is the default; set '
                    'distributed_tracing=True (or LOGFIRE_DISTRIBUTED_TRACING=true) to do so silently, or False to '
                    'always start a new trace.'
                )
        return extracted

    def inject(
        self, carrier: CarrierT, context: Context | None = None, setter: Setter[CarrierT] = default_setter
    ) -> None:
        """Inject outgoing context unchanged."""
        self.wrapped.inject(carrier, context, setter)

    @property
    def fields(self) -> set[str]:
        """The header names the wrapped propagator uses."""
        return self.wrapped.fields
