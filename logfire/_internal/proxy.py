"""Long-lived tracer and meter providers that forward to whatever pipeline `configure()` built last.

Everything logfire hands out (its own tracer, the providers given to instrumentations) holds these
proxies, so code instrumented before `configure()`, or across a second `configure()`, records into the
current pipeline.
"""

from __future__ import annotations

import functools
import inspect
import threading
import weakref
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, ClassVar, TypeVar, cast

from opentelemetry import context as context_api
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackT, NoOpMeterProvider
from opentelemetry.metrics import _Gauge as Gauge  # OTel still marks gauges experimental
from opentelemetry.trace import Link, NoOpTracerProvider, SpanKind
from opentelemetry.util.types import Attributes

from .exporters.processors import start_noted
from .span_storage import plain_attributes
from .timed_span import TimedSpan

SUPPRESS_INSTRUMENTATION_KEY = context_api._SUPPRESS_INSTRUMENTATION_KEY  # pyright: ignore[reportPrivateUsage]
"""The context key every OpenTelemetry instrumentation checks; `suppress_instrumentation()` sets it."""


def _current_context_getter() -> Callable[[], context_api.Context]:
    """`context_api.get_current`, or the `ContextVar.get` it ends in when OpenTelemetry's default runtime is in use.

    The default runtime (`contextvars_context`) is chosen once, when `opentelemetry.context` is imported, and keeps
    the current context in one `ContextVar`: its bound `get` returns the same object with two Python calls fewer,
    on every span. Any other runtime (`OTEL_PYTHON_CONTEXT`) is asked through the API as usual.
    """
    from contextvars import ContextVar

    from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

    runtime = getattr(context_api, '_RUNTIME_CONTEXT', None)
    variable = getattr(runtime, '_current_context', None)
    if type(runtime) is ContextVarsRuntimeContext and isinstance(variable, ContextVar):
        return cast('ContextVar[context_api.Context]', variable).get
    return context_api.get_current


current_context: Callable[[], context_api.Context] = _current_context_getter()
"""The current OpenTelemetry context, as `opentelemetry.context.get_current()` returns it."""
WrapMeasure = Callable[[str, Any], Any]
"""Given a counter's or histogram's name and measurement method, the method to bind (see `Pipeline.wrap_measure`)."""
_F = TypeVar('_F', bound=Callable[..., Any])


class ProxyTracerProvider(trace.TracerProvider):
    """A tracer provider whose tracers follow the delegate set by `set_delegate()`."""

    def __init__(self, on_unconfigured_use: Callable[[], None] | None = None) -> None:
        self.delegate: trace.TracerProvider = NoOpTracerProvider()
        self.configured = False
        self.generation = 0
        self.on_unconfigured_use = on_unconfigured_use
        self.defer_attributes = False
        self.ns_timestamp_generator: Callable[[], int] | None = None

    def set_delegate(
        self,
        provider: trace.TracerProvider,
        *,
        configured: bool = True,
        defer_attributes: bool = False,
        ns_timestamp_generator: Callable[[], int] | None = None,
    ) -> None:
        """Send every tracer's future spans to `provider`.

        `defer_attributes`: plain attributes may go to the span through logfire's root processor rather than the
        SDK's validation (see `Pipeline.defer_attributes`). `ns_timestamp_generator`: the clock that times spans
        whose caller gives no time (`AdvancedOptions(ns_timestamp_generator=...)`), or None for the SDK's.
        """
        self.delegate = provider
        self.configured = configured
        self.defer_attributes = defer_attributes
        self.ns_timestamp_generator = ns_timestamp_generator
        self.generation += 1

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> ProxyTracer:
        """Return a tracer that always uses the current delegate."""
        return ProxyTracer(self, instrumenting_module_name, instrumenting_library_version, schema_url, attributes)


class UncheckedTracer:
    """What `start_noted()` needs of a tracer: `start_span`, here a `ProxyTracer`'s, minus the suppression check."""

    __slots__ = ('start_span',)

    def __init__(self, start_span: Callable[..., trace.Span]) -> None:
        self.start_span = start_span


class ProxyTracer(trace.Tracer):
    """A tracer that re-resolves its real tracer when the provider's delegate changes."""

    __slots__ = ('_args', '_generation', '_provider', '_tracer')

    def __init__(
        self,
        provider: ProxyTracerProvider,
        name: str,
        version: str | None,
        schema_url: str | None,
        attributes: Attributes,
    ) -> None:
        self._provider = provider
        self._args = (name, version, schema_url, attributes)
        self._generation = -1
        self._tracer: trace.Tracer = trace.NoOpTracer()

    @property
    def tracer(self) -> trace.Tracer:
        """The real tracer of the current pipeline."""
        provider = self._provider
        if self._generation != provider.generation:
            self._tracer = provider.delegate.get_tracer(*self._args)
            self._generation = provider.generation
        if not provider.configured and provider.on_unconfigured_use is not None:
            provider.on_unconfigured_use()
        return self._tracer

    def start_span(
        self,
        name: str,
        context: context_api.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        """Start a span in the current pipeline; a non-recording one inside `suppress_instrumentation()`."""
        if current_context().get(SUPPRESS_INSTRUMENTATION_KEY):
            return trace.INVALID_SPAN
        return self._start_span(
            name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception
        )

    def unchecked(self) -> UncheckedTracer:
        """This tracer without the suppression check, for callers that made it in the context they pass."""
        return UncheckedTracer(self._start_span)

    def _start_span(
        self,
        name: str,
        context: context_api.Context | None,
        kind: SpanKind,
        attributes: Attributes,
        links: Sequence[Link] | None,
        start_time: int | None,
        record_exception: bool,
        set_status_on_exception: bool,
    ) -> trace.Span:
        """`start_span` once instrumentation is known not to be suppressed."""
        provider = self._provider
        # The `tracer` property, inlined for the common case of a configured pipeline that has not changed.
        tracer = self._tracer if self._generation == provider.generation and provider.configured else self.tracer
        clock = provider.ns_timestamp_generator
        if clock is not None and start_time is None:
            # Timed by the configured clock, as logfire's own spans are: the start now, the end and events later.
            span = self.start_span(
                name, context, kind, attributes, links, clock(), record_exception, set_status_on_exception
            )
            return TimedSpan(span, clock, record_exception, set_status_on_exception) if span.is_recording() else span
        if attributes and provider.defer_attributes and plain_attributes(attributes):
            # Valid as they are: the root processor puts them into the span, skipping the SDK's validation.
            return start_noted(
                tracer,
                name,
                context,
                kind,
                attributes,
                links,
                start_time,
                record_exception,
                set_status_on_exception,
                deferred=True,
                checked_by=None,
            )
        return tracer.start_span(
            name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception
        )

    def start_as_current_span(  # pyright: ignore[reportIncompatibleMethodOverride]
        self,
        name: str,
        context: context_api.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> CurrentSpan:
        """Start a span in the current pipeline and make it current for the block; usable as a decorator too."""
        return CurrentSpan(
            self,
            (
                name,
                context,
                kind,
                attributes,
                links,
                start_time,
                record_exception,
                set_status_on_exception,
                end_on_exit,
            ),
        )


_StartArgs = tuple[
    str, context_api.Context | None, SpanKind, Attributes, Sequence[Link] | None, int | None, bool, bool, bool
]


class CurrentSpan:
    """What `ProxyTracer.start_as_current_span` returns: starts the span and makes it current on entry.

    Starting on entry (not when called) means the suppression check and the pipeline are those of the moment the
    block runs, also for a decorated function, whose every call enters a fresh one. It costs one object, where a
    generator-based context manager around the SDK's would cost a second generator per span.
    """

    __slots__ = ('_args', '_manager', '_tracer')

    def __init__(self, tracer: ProxyTracer, args: _StartArgs) -> None:
        self._tracer = tracer
        self._args = args
        self._manager: AbstractContextManager[trace.Span] | None = None

    def __enter__(self) -> trace.Span:
        if self._manager is not None:
            raise RuntimeError('this start_as_current_span() block is already running; call it again for a new span')
        if current_context().get(SUPPRESS_INSTRUMENTATION_KEY):
            return trace.INVALID_SPAN
        name, context, kind, attributes, links, start_time, record_exception, set_status, end_on_exit = self._args
        # What the SDK's `start_as_current_span` does, with the span started by `ProxyTracer.start_span`.
        span = self._tracer._start_span(  # pyright: ignore[reportPrivateUsage]  # suppression checked just above
            name, context, kind, attributes, links, start_time, record_exception, set_status
        )
        manager = trace.use_span(
            span, end_on_exit=end_on_exit, record_exception=record_exception, set_status_on_exception=set_status
        )
        self._manager = manager
        return manager.__enter__()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc_value: BaseException | None, traceback: TracebackType | None
    ) -> bool | None:
        manager, self._manager = self._manager, None
        return None if manager is None else manager.__exit__(exc_type, exc_value, traceback)

    def __call__(self, function: _F) -> _F:
        """Use as a decorator: each call of `function` (sync or async) runs in a new span."""
        tracer, args = self._tracer, self._args
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def async_wrapper(*a: Any, **kw: Any) -> Any:
                with CurrentSpan(tracer, args):
                    return await function(*a, **kw)

            return cast('_F', async_wrapper)

        @functools.wraps(function)
        def wrapper(*a: Any, **kw: Any) -> Any:
            with CurrentSpan(tracer, args):
                return function(*a, **kw)

        return cast('_F', wrapper)


class ProxyMeterProvider(metrics.MeterProvider):
    """A meter provider whose instruments are re-created on each new delegate."""

    def __init__(self) -> None:
        self.delegate: metrics.MeterProvider = NoOpMeterProvider()
        self.wrap_measure: WrapMeasure | None = None
        self._meters: weakref.WeakSet[ProxyMeter] = weakref.WeakSet()
        self._lock = threading.Lock()

    def set_delegate(self, provider: metrics.MeterProvider, *, wrap_measure: WrapMeasure | None = None) -> None:
        """Point every meter and instrument handed out so far at `provider`.

        `wrap_measure`: see `Pipeline.wrap_measure`.
        """
        with self._lock:
            self.delegate = provider
            self.wrap_measure = wrap_measure
            meters = list(self._meters)
        for meter in meters:
            meter.rebind(provider, wrap_measure)

    def get_meter(
        self, name: str, version: str | None = None, schema_url: str | None = None, attributes: Attributes = None
    ) -> ProxyMeter:
        """Return a meter whose instruments follow the current delegate."""
        with self._lock:
            meter = ProxyMeter((name, version, schema_url, attributes), self.delegate, self.wrap_measure)
            self._meters.add(meter)
        return meter


class _ProxyInstrument:
    """Forwards measurements to the instrument of the current pipeline."""

    _forward: ClassVar[str] = ''
    """The measurement method (`add`, `record`, `set`), bound straight to the current instrument."""
    _summed: ClassVar[bool] = False
    """Whether measurements may be added up in spans (counters and histograms), through `wrap_measure`."""

    def __init__(
        self, create: Callable[[metrics.Meter], Any], meter: metrics.Meter, name: str, wrap: WrapMeasure | None
    ) -> None:
        self._create = create
        self._name = name
        self.owner: ProxyMeter | None = None
        self._bind(create(meter), wrap)

    def rebind(self, meter: metrics.Meter, wrap: WrapMeasure | None) -> None:
        self._bind(self._create(meter), wrap)

    def _bind(self, instrument: Any, wrap: WrapMeasure | None) -> None:
        self._instrument = instrument
        if self._forward:
            # The instance attribute shadows the class's forwarding method, so each measurement goes straight
            # to the real instrument (instrumentations record several per request).
            measure = getattr(instrument, self._forward)
            if wrap is not None and self._summed:
                measure = wrap(self._name, measure)
            setattr(self, self._forward, measure)


class _ProxyCounter(_ProxyInstrument, metrics.Counter):
    _forward = 'add'
    _summed = True

    def add(
        self, amount: int | float, attributes: Attributes = None, context: context_api.Context | None = None
    ) -> None:
        self._instrument.add(amount, attributes, context)


class _ProxyUpDownCounter(_ProxyInstrument, metrics.UpDownCounter):
    _forward = 'add'

    def add(
        self, amount: int | float, attributes: Attributes = None, context: context_api.Context | None = None
    ) -> None:
        self._instrument.add(amount, attributes, context)


class _ProxyHistogram(_ProxyInstrument, metrics.Histogram):
    _forward = 'record'
    _summed = True

    def record(
        self, amount: int | float, attributes: Attributes = None, context: context_api.Context | None = None
    ) -> None:
        self._instrument.record(amount, attributes, context)


class _ProxyGauge(_ProxyInstrument, Gauge):
    _forward = 'set'

    def set(
        self, amount: int | float, attributes: Attributes = None, context: context_api.Context | None = None
    ) -> None:
        self._instrument.set(amount, attributes, context)


class _ProxyObservable(
    _ProxyInstrument, metrics.ObservableCounter, metrics.ObservableUpDownCounter, metrics.ObservableGauge
):
    pass


class ProxyMeter(metrics.Meter):
    """A meter whose instruments survive a change of pipeline."""

    def __init__(
        self,
        args: tuple[str, str | None, str | None, Attributes],
        provider: metrics.MeterProvider,
        wrap: WrapMeasure | None = None,
    ) -> None:
        super().__init__(args[0], args[1], args[2])
        self._args = args
        self._meter = provider.get_meter(*args)
        self._wrap = wrap
        self._instruments: weakref.WeakSet[_ProxyInstrument] = weakref.WeakSet()
        self._lock = threading.Lock()

    def rebind(self, provider: metrics.MeterProvider, wrap: WrapMeasure | None = None) -> None:
        """Re-create this meter's instruments on `provider`."""
        with self._lock:
            self._meter = provider.get_meter(*self._args)
            self._wrap = wrap
            instruments = list(self._instruments)
        for instrument in instruments:
            instrument.rebind(self._meter, wrap)

    def _add(self, kind: type[_ProxyInstrument], name: str, create: Callable[[metrics.Meter], Any]) -> Any:
        with self._lock:  # made under the lock, so a `rebind` either sees the instrument or happened before it
            instrument = kind(create, self._meter, name, self._wrap)
            self._instruments.add(instrument)
        # The instrument keeps its meter alive: code often keeps only the instrument
        # (`get_meter(...).create_counter(...)`), and a meter gone from the provider's set is never rebound.
        instrument.owner = self
        return instrument

    def create_counter(self, name: str, unit: str = '', description: str = '') -> metrics.Counter:
        """Create a counter that survives reconfiguration."""
        return self._add(_ProxyCounter, name, lambda m: m.create_counter(name, unit, description))

    def create_up_down_counter(self, name: str, unit: str = '', description: str = '') -> metrics.UpDownCounter:
        """Create an up-down counter that survives reconfiguration."""
        return self._add(_ProxyUpDownCounter, name, lambda m: m.create_up_down_counter(name, unit, description))

    def create_histogram(
        self,
        name: str,
        unit: str = '',
        description: str = '',
        *,
        explicit_bucket_boundaries_advisory: Sequence[float] | None = None,
    ) -> metrics.Histogram:
        """Create a histogram that survives reconfiguration."""
        return self._add(
            _ProxyHistogram,
            name,
            lambda m: m.create_histogram(
                name, unit, description, explicit_bucket_boundaries_advisory=explicit_bucket_boundaries_advisory
            ),
        )

    def create_gauge(self, name: str, unit: str = '', description: str = '') -> Gauge:
        """Create a gauge that survives reconfiguration."""
        return self._add(_ProxyGauge, name, lambda m: m.create_gauge(name, unit, description))

    def create_observable_counter(
        self, name: str, callbacks: Sequence[CallbackT] | None = None, unit: str = '', description: str = ''
    ) -> metrics.ObservableCounter:
        """Create an observable counter that survives reconfiguration."""
        return self._add(
            _ProxyObservable, name, lambda m: m.create_observable_counter(name, callbacks, unit, description)
        )

    def create_observable_up_down_counter(
        self, name: str, callbacks: Sequence[CallbackT] | None = None, unit: str = '', description: str = ''
    ) -> metrics.ObservableUpDownCounter:
        """Create an observable up-down counter that survives reconfiguration."""
        return self._add(
            _ProxyObservable, name, lambda m: m.create_observable_up_down_counter(name, callbacks, unit, description)
        )

    def create_observable_gauge(
        self, name: str, callbacks: Sequence[CallbackT] | None = None, unit: str = '', description: str = ''
    ) -> metrics.ObservableGauge:
        """Create an observable gauge that survives reconfiguration."""
        return self._add(
            _ProxyObservable, name, lambda m: m.create_observable_gauge(name, callbacks, unit, description)
        )
