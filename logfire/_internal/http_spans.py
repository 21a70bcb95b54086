"""HTTP span enrichment: a readable `logfire.msg` when the span starts, a level from the final status when it ends.

Both read either generation of OpenTelemetry's HTTP attribute names (`http.method`/`http.target`, and
`http.request.method`/`url.path` under `OTEL_SEMCONV_STABILITY_OPT_IN=http`), so `http/dup` works too.
Neither imports OpenTelemetry instrumentation: they run on every span of every program.

What a client sends is bounded (see `docs/security.md`): the message and name of an HTTP server span are cut to
`MAX_HTTP_MESSAGE_LENGTH` characters, and the URL, path, query, host and user agent attributes to
`MAX_HTTP_VALUE_LENGTH`; each cut value ends with `…` and the span gets `logfire.truncated = True`. The start hook
only compares lengths; the cutting of attributes happens when the span ends, since the instrumentation sets them
again after the span has started.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final
from urllib.parse import parse_qsl, urlsplit

from opentelemetry.sdk.trace import ReadableSpan, Span
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util.types import AttributeValue

from .constants import (
    ATTRIBUTES_LOG_LEVEL_NUM_KEY,
    ATTRIBUTES_MESSAGE_KEY,
    ATTRIBUTES_SPAN_TYPE_KEY,
    ERROR_LEVEL,
    WARN_LEVEL,
)
from .exporters.processors import copy_span
from .span_storage import set_start_attributes

# Old (default) and stable generations of the HTTP semantic conventions.
HTTP_METHOD: Final = ('http.method', 'http.request.method')
_METHOD_OLD, _METHOD_NEW = HTTP_METHOD
HTTP_STATUS_CODE: Final = ('http.status_code', 'http.response.status_code')
_TARGET_OLD, _PATH_NEW = 'http.target', 'url.path'
STATUS_KEYS: Final = frozenset(HTTP_STATUS_CODE)
_STATUS_OLD, _STATUS_NEW = HTTP_STATUS_CODE
_SCHEME: Final = ('http.scheme', 'url.scheme')
_URL_OLD, _URL_NEW, _QUERY_NEW = 'http.url', 'url.full', 'url.query'
_ASGI_EVENT_TYPE: Final = 'asgi.event.type'
_WEBSOCKET_SCHEMES: Final = frozenset({'ws', 'wss'})
_MAX_QUERY_PART: Final = 20

MAX_HTTP_MESSAGE_LENGTH: Final = 512
"""The longest `logfire.msg` and span name of an HTTP server span, in characters."""
MAX_HTTP_VALUE_LENGTH: Final = 2048
"""The longest URL, path, query, host or user agent attribute, and captured header value, in characters."""
MAX_CAPTURED_HEADER_VALUES: Final = 64
"""The most header values captured per request, and per response; later ones are dropped."""
TRUNCATED_KEY: Final = 'logfire.truncated'
"""Set to True on a span some of whose values were cut (each ends with `ELLIPSIS`) or headers dropped."""
ELLIPSIS: Final = '…'
_BOUNDED_KEYS: Final = (
    'http.url',
    'url.full',
    'http.target',
    'url.path',
    'url.query',
    'http.user_agent',
    'user_agent.original',
    'http.host',
    'http.server_name',
    'server.address',
    'net.host.name',
)
# What the start hook measures (`_TARGET_OLD` or `_PATH_NEW` aside): the client-chosen values each generation of the
# conventions has. The rest of `_BOUNDED_KEYS` repeat parts of these, or are not set on server spans.
_CHECKED_OLD: Final = ('http.url', 'http.user_agent', 'http.host', 'http.server_name')
_CHECKED_NEW: Final = ('url.query', 'user_agent.original', 'server.address')


def set_http_message(span: Span, attributes: Mapping[str, AttributeValue]) -> None:
    """Start hook: give an HTTP server span a message such as `GET /users ? page='2'`.

    Spans with a message already (all of logfire's own) are left alone.
    """
    if not attributes:
        return  # neither an HTTP server nor client span (yet): an instrumentation may set attributes later
    path = attributes.get(_TARGET_OLD)
    checked = _CHECKED_OLD
    if path is None:
        path = attributes.get(_PATH_NEW)
        if path is None:
            _set_client_message(span, attributes)  # not an HTTP server span; perhaps a client one
            return
        checked = _CHECKED_NEW
    truncated = _has_long_value(attributes, path, checked)  # the values themselves are cut when the span ends
    if len(span.name) > MAX_HTTP_MESSAGE_LENGTH:
        span.update_name(cut(span.name, MAX_HTTP_MESSAGE_LENGTH))
        truncated = True
    if ATTRIBUTES_MESSAGE_KEY in attributes:
        if truncated:
            set_start_attributes(span, {TRUNCATED_KEY: True})
        return
    method = attributes.get(_METHOD_OLD)
    if method is None:
        method = attributes.get(_METHOD_NEW)
        if method is None and _first(attributes, _SCHEME) in _WEBSOCKET_SCHEMES:
            method = 'WEBSOCKET'
    message = f'{method} {path}' if method else str(path)
    url = attributes.get(_URL_OLD)
    if _QUERY_NEW in attributes or (isinstance(url, str) and '?' in url):  # most requests have no query
        query = _query(attributes)
        if query:
            message = f'{message} ? {query}'
    if len(message) > MAX_HTTP_MESSAGE_LENGTH:
        message = cut(message, MAX_HTTP_MESSAGE_LENGTH)
        truncated = True
    added: dict[str, AttributeValue] = {ATTRIBUTES_MESSAGE_KEY: message}
    if truncated:
        added[TRUNCATED_KEY] = True
    if ATTRIBUTES_SPAN_TYPE_KEY not in attributes:
        added[ATTRIBUTES_SPAN_TYPE_KEY] = 'span'
    set_start_attributes(span, added)


def _set_client_message(span: Span, attributes: Mapping[str, AttributeValue]) -> None:
    """Give an HTTP client span a message such as `GET example.com/path ? q='2'` (host, path, query)."""
    if ATTRIBUTES_MESSAGE_KEY in attributes:
        return  # all of logfire's own spans: one lookup
    url = attributes.get(_URL_OLD)
    if url is None:
        url = attributes.get(_URL_NEW)
    method = _first(attributes, HTTP_METHOD)
    if not isinstance(url, str) or method is None:
        return
    parts = urlsplit(url)
    host = parts.hostname or ''
    message = f'{method} {host}:{parts.port}{parts.path}' if parts.port else f'{method} {host}{parts.path}'
    if parts.query:
        message = f'{message} ? {format_query(parts.query)}'
    added: dict[str, AttributeValue] = {ATTRIBUTES_MESSAGE_KEY: message}
    if ATTRIBUTES_SPAN_TYPE_KEY not in attributes:
        added[ATTRIBUTES_SPAN_TYPE_KEY] = 'span'
    set_start_attributes(span, added)


def set_http_level(span: ReadableSpan, attributes: Mapping[str, AttributeValue]) -> ReadableSpan:
    """End transform: 5xx is level error, 4xx is warn (server and client spans).

    Websocket spans lose the status code OTel gives them.

    A level set explicitly (e.g. debug on ASGI send/receive spans) is kept. Values the start hook found too long
    are cut here.
    """
    if TRUNCATED_KEY in attributes:
        bounded = _bounded(attributes)
        if bounded is not None:
            span, attributes = _with_attributes(span, bounded), bounded
    code = attributes.get(_STATUS_OLD)
    if code is None:
        code = attributes.get(_STATUS_NEW)
        if code is None:
            return span
    scheme = attributes.get(_SCHEME[0])
    if scheme != 'http' and scheme != 'https' and _is_websocket(attributes):
        # OTel's middleware reports 200 for each websocket message; a websocket has no HTTP status.
        return _with_attributes(span, {k: v for k, v in attributes.items() if k not in HTTP_STATUS_CODE})
    if not isinstance(code, int) or ATTRIBUTES_LOG_LEVEL_NUM_KEY in attributes:
        return span
    if code >= 500 or (
        span.status.status_code is StatusCode.ERROR and (code < 400 or span.kind is not SpanKind.CLIENT)
    ):  # OTel marks a client's 4xx as an error; for logfire it is a warning, as on the server
        level = ERROR_LEVEL
    elif code >= 400:
        level = WARN_LEVEL
    else:
        return span
    return _with_attributes(span, {**attributes, ATTRIBUTES_LOG_LEVEL_NUM_KEY: level})


def cut(text: str, limit: int) -> str:
    """`text` if it has at most `limit` characters, else its first `limit - 1` and `…`."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def _has_long_value(attributes: Mapping[str, AttributeValue], path: AttributeValue, keys: tuple[str, ...]) -> bool:
    """Whether `path` or a value of `keys` is longer than `MAX_HTTP_VALUE_LENGTH`: only length comparisons."""
    try:
        if len(path) > MAX_HTTP_VALUE_LENGTH:  # pyright: ignore[reportArgumentType]
            return True
        for key in keys:
            value = attributes.get(key)
            if value is not None and len(value) > MAX_HTTP_VALUE_LENGTH:  # pyright: ignore[reportArgumentType]
                return True
    except TypeError:  # not a string (nor a sequence): not a value a client chose
        return False
    return False


def _bounded(attributes: Mapping[str, AttributeValue]) -> dict[str, AttributeValue] | None:
    """The attributes with the long URL-like values cut, or None when none is too long."""
    long = {
        key: cut(value, MAX_HTTP_VALUE_LENGTH)
        for key in _BOUNDED_KEYS
        if isinstance(value := attributes.get(key), str) and len(value) > MAX_HTTP_VALUE_LENGTH
    }
    return {**attributes, **long} if long else None


def format_query(query: str) -> str:
    """Render a query string as `a='1' & b='two'`, shortening long names and values."""
    query = query[:MAX_HTTP_VALUE_LENGTH]  # a huge query must not cost a huge parse
    pairs = parse_qsl(query, keep_blank_values=True)
    return ' & '.join(f'{_shorten(name)}={_shorten(value)!r}' for name, value in pairs)


def _query(attributes: Mapping[str, AttributeValue]) -> str:
    query = attributes.get(_QUERY_NEW)
    if query is None:
        url = attributes.get(_URL_OLD)
        query = urlsplit(url).query if isinstance(url, str) and '?' in url else None
    return format_query(query) if isinstance(query, str) and query else ''


def _shorten(text: str) -> str:
    if len(text) <= _MAX_QUERY_PART or (text[:1] == '[' and text[-1:] == ']'):
        return text  # short, or a placeholder such as a scrubbing marker, which must stay readable
    keep = (_MAX_QUERY_PART - 1) // 2
    return f'{text[:keep]}…{text[-keep:]}'


def _first(attributes: Mapping[str, AttributeValue], names: tuple[str, str]) -> AttributeValue | None:
    value = attributes.get(names[0])
    return attributes.get(names[1]) if value is None else value


def _is_websocket(attributes: Mapping[str, AttributeValue]) -> bool:
    scheme = attributes.get(_SCHEME[0]) or attributes.get(_SCHEME[1])
    if scheme == 'http' or scheme == 'https':
        return False
    if scheme in _WEBSOCKET_SCHEMES:
        return True
    event_type = attributes.get(_ASGI_EVENT_TYPE)
    return isinstance(event_type, str) and event_type.startswith('websocket.')


def _with_attributes(span: ReadableSpan, attributes: dict[str, AttributeValue]) -> ReadableSpan:
    return copy_span(span, attributes=attributes)
