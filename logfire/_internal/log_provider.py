"""Build the OpenTelemetry logs signal's `LoggerProvider` from a config, on the pipeline the spans use.

Built only when a record would go somewhere (the console, an export destination, or the user's
`AdvancedOptions(log_record_processors=...)`), so a program that uses none of them never imports OTel's logs SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry import metrics
    from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    from .config import LogfireConfig
    from .exporters.console import ConsoleSpanProcessor


def build_logger_provider(
    config: LogfireConfig,
    resource: Resource,
    meter_provider: metrics.MeterProvider,
    console: ConsoleSpanProcessor | None,
    export: bool,
) -> LoggerProvider | None:
    """The logger provider for `config`, or None when no log record would go anywhere.

    Args:
        config: The configuration being built.
        resource: The resource the spans carry, shared by the log records.
        meter_provider: Where the SDK records its own metrics about logs, if those are turned on.
        console: The span console, which prints the records nested under their spans; None when it is off.
        export: Whether OTLP export is configured at all (each destination may still turn logs off).
    """
    user_processors = tuple(config.settings.log_record_processors)
    if console is None and not user_processors and not (export and _log_destinations(config)):
        return None
    from opentelemetry.sdk._logs import LoggerProvider

    from .exporters.log_processors import ConsoleLogRecordProcessor, RootLogRecordProcessor
    from .scrubbing import LogRecordScrubbing

    children: list[LogRecordProcessor] = list(user_processors)
    if console is not None:
        children.append(ConsoleLogRecordProcessor(console))
    if export:
        from .exporters.log_export import log_processors

        children.extend(log_processors(config))
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False, meter_provider=meter_provider)
    provider.add_log_record_processor(RootLogRecordProcessor(children, LogRecordScrubbing(config.scrubber)))
    return provider


def _log_destinations(config: LogfireConfig) -> bool:
    from .exporters.otlp import destinations

    return bool(destinations(config, 'logs'))
