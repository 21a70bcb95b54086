"""Option groups accepted by `configure()`: small frozen dataclasses, `False` disables a group."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from .constants import LevelName
from .sampling import LevelOrDuration, TailCallback

if TYPE_CHECKING:
    import re
    from typing import TextIO

    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.metrics.view import View
    from opentelemetry.sdk.resources import ResourceDetector
    from opentelemetry.sdk.trace.id_generator import IdGenerator


@dataclass(frozen=True)
class ConsoleOptions:
    """How spans and logs are printed to the terminal.

    Each field can also be set by an environment variable (`LOGFIRE_CONSOLE_<FIELD>`) or a
    `console_<field>` key in `[tool.logfire]`, when `console` is not passed to `configure()`.
    """

    colors: Literal['auto', 'always', 'never'] = 'auto'
    """Use ANSI colours: `'auto'` only when the output is a terminal."""
    span_style: Literal['simple', 'indented', 'show-parents'] = 'show-parents'
    """`'simple'` prints no nesting, `'indented'` indents by depth, `'show-parents'` also reprints a
    line's parent when output from concurrent spans interleaves."""
    include_timestamps: bool = True
    """Start each line with the `HH:MM:SS.mmm` time."""
    include_tags: bool = True
    """Print tags as ` [a,b]` after the message."""
    verbose: bool = False
    """Also print the source location, level and attributes of each line."""
    min_log_level: LevelName = 'info'
    """Lines below this level are not printed (they are still exported)."""
    show_span_end: bool = False
    """Print a line when a span ends, with its duration."""
    output: TextIO | None = None
    """Where to print; `None` means `sys.stdout` at the time of printing."""
    show_project_link: bool = True
    """Accepted for compatibility with the established SDK; there is no project link to show."""


def default_metric_views() -> tuple[View, ...]:
    """The views of `MetricsOptions.DEFAULT_VIEWS`, made on use: the SDK's metrics modules load at `configure()`."""
    from opentelemetry.sdk.metrics import Histogram, UpDownCounter
    from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View

    return (
        View(instrument_type=Histogram, aggregation=ExponentialBucketHistogramAggregation()),
        View(
            instrument_type=UpDownCounter,
            instrument_name='http.server.active_requests',
            attribute_keys={'url.scheme', 'http.scheme', 'http.flavor', 'http.method', 'http.request.method'},
        ),
    )


class _DefaultViews:
    """`MetricsOptions.DEFAULT_VIEWS`, built when first read so that `import logfire` does not load the SDK."""

    def __get__(self, instance: object, owner: type | None = None) -> tuple[View, ...]:
        return default_metric_views()


@dataclass(frozen=True)
class MetricsOptions:
    """Metrics configuration: extra readers, views, and totals of metrics in spans.

    Example:
        ```python
        import logfire

        logfire.configure(console=False, metrics=logfire.MetricsOptions(collect_in_spans=True))
        ```
    """

    DEFAULT_VIEWS: ClassVar[tuple[View, ...]]  # set below the class: the dataclass must not read it
    """The views logfire applies unless `views` is given: every histogram aggregates into exponential buckets
    (finer and smaller than fixed buckets), and `http.server.active_requests` keeps only its method and scheme
    attributes. To add views while keeping these: `MetricsOptions(views=[*MetricsOptions.DEFAULT_VIEWS, View(...)])`."""

    additional_readers: Sequence[MetricReader] = ()
    """Metric readers added to the shared meter provider, besides the exporters `configure()` adds."""
    collect_in_spans: bool = False
    """Add up the counter and histogram measurements made while a span is current into that span and its open
    ancestors, written as the `logfire.metrics` attribute when each span ends (see the Metrics page). A metric named
    `operation.cost` is always added up."""
    views: Sequence[View] = field(default_factory=default_metric_views)
    """OpenTelemetry metric views for the shared meter provider, in place of `DEFAULT_VIEWS` (the default)."""


MetricsOptions.DEFAULT_VIEWS = _DefaultViews()  # pyright: ignore[reportAttributeAccessIssue]


@dataclass(frozen=True)
class SamplingOptions:
    """Trace sampling: `head` decides when a trace starts, `tail` once its spans show what it is.

    See the Sampling page of the docs for how tail sampling buffers spans, and its bounds.
    """

    head: float = 1.0
    """The fraction of traces kept, decided when the root span starts (0.0 to 1.0). Applied first."""
    tail: TailCallback | None = None
    """Called with a `TailSamplingSpanInfo` as each span of a trace not yet decided starts and ends; returns the
    probability (0.0 to 1.0) of keeping the whole trace. The trace is kept as soon as the answer beats the trace's
    own random draw (fixed per trace id), else dropped when its root span ends. None: no tail sampling."""

    @classmethod
    def level_or_duration(
        cls,
        *,
        head: float = 1.0,
        level_threshold: LevelName | None = 'notice',
        duration_threshold: float | None = 5.0,
        background_rate: float = 0.0,
    ) -> SamplingOptions:
        """Keep every trace with a span at `level_threshold` or above, or lasting `duration_threshold` seconds.

        Args:
            head: The fraction of traces considered at all, decided when they start.
            level_threshold: A trace with a span or log at this level or above is kept (None: level never keeps).
            duration_threshold: A trace running this many seconds or longer is kept (None: duration never keeps).
            background_rate: The fraction of the other traces kept, chosen by trace id.

        Returns:
            The sampling options to pass to `configure(sampling=...)`.

        Example:
            ```python
            import logfire

            logfire.configure(console=False, sampling=logfire.SamplingOptions.level_or_duration(background_rate=0.1))
            ```
        """
        return cls(head=head, tail=LevelOrDuration(level_threshold, duration_threshold, background_rate))


@dataclass(frozen=True)
class ScrubMatch:
    """A value that scrubbing is about to redact, passed to `ScrubbingOptions.callback`."""

    path: tuple[str | int, ...]
    """Where the value sits: `'attributes'`, the attribute key, then keys and indexes into its JSON value."""
    value: Any
    """The value that would be redacted."""
    pattern_match: re.Match[str]
    """The match of a scrubbing pattern, in the key or the value."""


ScrubCallback = Callable[[ScrubMatch], Any]


@dataclass(frozen=True)
class ScrubbingOptions:
    """How secrets are redacted from span attributes before anything sees them."""

    callback: ScrubCallback | None = None
    """Called for each match; return a value to keep (or replace) it, `None` to redact it."""
    extra_patterns: Sequence[str] | None = None
    """Regular expressions added to the default patterns (case-insensitive). A list: a plain string is rejected."""


@dataclass(frozen=True)
class AdvancedOptions:
    """Settings most programs never need."""

    base_url: str | None = None
    """The Logfire backend's root URL; by default derived from the token's region."""
    id_generator: IdGenerator | None = None
    """Generates trace and span ids (the OTel default is random)."""
    ns_timestamp_generator: Callable[[], int] | None = None
    """Returns the current time in nanoseconds, used for span start and end times (also of spans from plain
    OpenTelemetry tracers that give no time of their own)."""
    exception_callback: Callable[[Any], None] | None = None
    """Called with each exception logfire records on a span (one escaping a `span()` block, or a log's
    `_exc_info`); an error it raises is reported and contained."""
    retry_queue_max_bytes: int | None = None
    """Size cap of the on-disk queue of payloads waiting to be re-sent."""
    shutdown_timeout_millis: int | None = None
    """How long exit may wait for pending telemetry to be flushed (default 3000)."""
    thread_pool_context: bool | None = None
    """Carry the trace context into `ThreadPoolExecutor` tasks (default on); see the distributed tracing guide."""
    resource_detectors: Sequence[ResourceDetector] | None = None
    """OpenTelemetry resource detectors run at `configure()`, in place of the default ones (OTel's
    `ProcessResourceDetector` and `OsResourceDetector`, and a host detector for `host.name` and `host.arch`).
    Pass `[]` to detect nothing. What they detect yields to `OTEL_RESOURCE_ATTRIBUTES` and logfire's own settings."""
