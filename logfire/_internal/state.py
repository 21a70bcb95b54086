"""`LogfireState`: the proxy providers and the current config and pipeline, shared by one `Logfire` family."""

from __future__ import annotations

import atexit
import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import handle_internal_errors
from .proxy import ProxyMeterProvider, ProxyTracerProvider
from .settings import ignore_no_config

if TYPE_CHECKING:
    from .config import LogfireConfig
    from .pipeline import Pipeline
    from .scrubbing import Scrubber


class LogfireNotConfiguredWarning(UserWarning):
    """Spans or logs were made, or an `instrument_*()` call was, before `logfire.configure()`.

    Spans and logs made before it are not recorded; instrumentation set up before it records once it is called.
    """


class LogfireState:
    """What one `Logfire` family shares: proxy providers, the current config and pipeline."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tracer_provider = ProxyTracerProvider(on_unconfigured_use=self._warn_not_configured)
        self.meter_provider = ProxyMeterProvider()
        self.config: LogfireConfig | None = None
        self.pipeline: Pipeline | None = None
        # Read on every span/log: kept as plain attributes so the hot path does one lookup each.
        self.min_level = 0
        self.inspect_arguments = False
        self.ns_timestamp_generator: Callable[[], int] | None = None
        self.scrubber: Scrubber | None = None  # only when scrubbing is on: masks secrets in messages
        self.span_scrubber: Scrubber | None = None  # the pipeline's, on or off: checks span attributes up front
        self.defer_attributes = False  # see `Pipeline.defer_attributes`
        self._warned_not_configured = False

    def call_exception_callback(self, exception: BaseException) -> None:
        """Give `AdvancedOptions.exception_callback` an exception logfire just recorded; its errors are contained."""
        config = self.config
        callback = config.settings.exception_callback if config is not None else None
        if callback is not None:
            with handle_internal_errors('exception_callback'):
                callback(exception)

    def _warn_not_configured(self) -> None:
        if self._warned_not_configured:
            return
        self._warned_not_configured = True
        if not ignore_no_config():
            warnings.warn(
                'No logs or spans will be created until `logfire.configure()` has been called. '
                'Set the environment variable LOGFIRE_IGNORE_NO_CONFIG=1 to suppress this warning.',
                LogfireNotConfiguredWarning,
                stacklevel=2,
            )

    def warn_if_not_configured(self, call: str) -> None:
        """Warn that `call` (e.g. `'logfire.instrument_asgi()'`) ran before `configure()`, once per state.

        For the `instrument_*` facades: what they set up works (it holds the shared proxy providers) but records
        nothing until `configure()` runs, which is easy to miss. Call it after instrumenting succeeded; the
        warning points at the user's call to the facade.
        """
        with self.lock:
            if self.config is not None or self._warned_not_configured:
                return
            self._warned_not_configured = True  # one warning about a missing `configure()` is enough
        if not ignore_no_config():
            warnings.warn(
                f'{call} was called before `logfire.configure()`: nothing is recorded until `logfire.configure()` '
                'is called (from then on it is, no need to instrument again). Call `logfire.configure()` first, or '
                'set the environment variable LOGFIRE_IGNORE_NO_CONFIG=1 to suppress this warning.',
                LogfireNotConfiguredWarning,
                stacklevel=3,
            )

    def swap(
        self, config: LogfireConfig | None, pipeline: Pipeline | None
    ) -> tuple[LogfireConfig | None, Pipeline | None]:
        """Install `config` and its `pipeline` (or go back to unconfigured); return the previous pair as is."""
        from opentelemetry.metrics import NoOpMeterProvider
        from opentelemetry.trace import NoOpTracerProvider

        with self.lock:
            previous = self.config, self.pipeline
            self.config, self.pipeline = config, pipeline
            settings = config.settings if config else None
            self.min_level = (settings.min_level or 0) if settings else 0
            self.inspect_arguments = settings.inspect_arguments if settings else False
            self.ns_timestamp_generator = settings.ns_timestamp_generator if settings else None
            self.scrubber = config.scrubber if config and config.scrubber.enabled else None
            self.span_scrubber = config.scrubber if config and _values_kept_whole() else None
            self.defer_attributes = pipeline.defer_attributes if pipeline is not None else False
            if pipeline is None:
                self.tracer_provider.set_delegate(NoOpTracerProvider(), configured=config is not None)
                self.meter_provider.set_delegate(NoOpMeterProvider())
            else:
                self.tracer_provider.set_delegate(
                    pipeline.tracer_provider,
                    defer_attributes=pipeline.defer_attributes,
                    ns_timestamp_generator=self.ns_timestamp_generator,
                )
                self.meter_provider.set_delegate(pipeline.meter_provider, wrap_measure=pipeline.wrap_measure)
        return previous

    def force_flush(self, timeout_millis: int) -> bool:
        """Flush the current pipeline within `timeout_millis`; True when everything was exported."""
        pipeline = self.pipeline
        return True if pipeline is None else pipeline.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: int, flush: bool = True) -> bool:
        """Flush (optionally) and shut down the current pipeline within `timeout_millis`."""
        with self.lock:
            pipeline, self.pipeline = self.pipeline, None
        if pipeline is None:
            return True
        return pipeline.shutdown(timeout_millis, flush=flush)

    def shutdown_at_exit(self) -> None:
        """The atexit hook: bounded by the configured shutdown timeout."""
        config = self.config
        timeout = config.settings.shutdown_timeout_millis if config else 3000
        with handle_internal_errors('shutdown at exit'):
            self.shutdown(timeout)


def _values_kept_whole() -> bool:
    """Whether the SDK stores span attribute values uncut (no `OTEL_*ATTRIBUTE_VALUE_LENGTH_LIMIT`).

    Only then does a value checked before the span starts equal what the scrubber's start hook would see, so the
    hook may skip attributes that were checked up front (a cut can end a clean value in a secret-looking word).
    """
    from opentelemetry.sdk.trace import SpanLimits

    return SpanLimits().max_span_attribute_length is None


GLOBAL_STATE = LogfireState()
atexit.register(GLOBAL_STATE.shutdown_at_exit)
