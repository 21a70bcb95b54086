"""A long-lived OpenTelemetry logger provider that forwards to whatever pipeline `configure()` built last.

It is the global `LoggerProvider` once logfire is configured, so a library's OTel logger, obtained before
`configure()` (through the API's own proxy) or after it, emits into the current pipeline, across reconfiguration.
"""

from __future__ import annotations

from typing import Any

from opentelemetry._logs import Logger, LoggerProvider, LogRecord, NoOpLogger, NoOpLoggerProvider, SeverityNumber
from opentelemetry.context import Context
from opentelemetry.util.types import AnyValue, Attributes


class ProxyLoggerProvider(LoggerProvider):
    """A logger provider whose loggers follow the delegate set by `set_delegate()`."""

    def __init__(self) -> None:
        self.delegate: LoggerProvider = NoOpLoggerProvider()
        self.generation = 0

    def set_delegate(self, provider: LoggerProvider) -> None:
        """Send every logger's future records to `provider`."""
        self.delegate = provider
        self.generation += 1

    def get_logger(
        self,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> ProxyLogger:
        """Return a logger that always emits into the current delegate."""
        return ProxyLogger(self, (name, version, schema_url, attributes))


class ProxyLogger(Logger):
    """A logger that re-resolves its real logger when the provider's delegate changes."""

    def __init__(self, provider: ProxyLoggerProvider, args: tuple[str, str | None, str | None, Attributes]) -> None:
        super().__init__(args[0], args[1], args[2], args[3])
        self._provider = provider
        self._args = args
        self._generation = -1
        self._logger: Logger = NoOpLogger(args[0])

    @property
    def logger(self) -> Logger:
        """The real logger of the current pipeline."""
        provider = self._provider
        if self._generation != provider.generation:
            name, version, schema_url, attributes = self._args
            self._logger = provider.delegate.get_logger(name, version, schema_url, attributes)
            self._generation = provider.generation
        return self._logger

    def emit(
        self,
        record: LogRecord | None = None,
        *,
        timestamp: int | None = None,
        observed_timestamp: int | None = None,
        context: Context | None = None,
        severity_number: SeverityNumber | None = None,
        severity_text: str | None = None,
        body: AnyValue | None = None,
        attributes: Attributes = None,
        event_name: str | None = None,
        exception: BaseException | None = None,
    ) -> None:
        """Emit a log record into the current pipeline."""
        logger: Any = self.logger
        if record is not None:
            logger.emit(record)
            return
        logger.emit(
            timestamp=timestamp,
            observed_timestamp=observed_timestamp,
            context=context,
            severity_number=severity_number,
            severity_text=severity_text,
            body=body,
            attributes=attributes,
            event_name=event_name,
            exception=exception,
        )

    def enabled(
        self,
        *,
        context: Context | None = None,
        severity_number: SeverityNumber | None = None,
        event_name: str | None = None,
    ) -> bool:
        """Whether the current pipeline would record a log with these properties (False until configured)."""
        return self.logger.enabled(context=context, severity_number=severity_number, event_name=event_name)
