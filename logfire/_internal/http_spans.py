"""HTTP span enrichment: a readable `logfire.msg` when the span starts, a level from the final status when it ends.

Both read either generation of OpenTelemetry's HTTP attribute names (`http.method`/`http.target`, and
`http.request.method`/`url.path` under `OTEL_SEMCONV_STABILITY_OPT_IN=http`), so `http/dup` works too.
Neither imports OpenTelemetry instrumentation: they run on every span of every program.
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


def set_http_message(span: Span, attributes: Mapping[str, AttributeValue]) -> None:
    """Start hook: give an HTTP server span a message such as `GET /users ? page='2'`.

    Spans with a message already (all of logfire's own) are left alone.
    """
    path = attributes.get(_TARGET_OLD)
    if path is None:
        path = attributes.get(_PATH_NEW)
        if path is None:
            _set_client_message(span, attributes)  # not an HTTP server span; perhaps a client one
            return
    if ATTRIBUTES_MESSAGE_KEY in attributes:
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
    added: dict[str, AttributeValue] = {ATTRIBUTES_MESSAGE_KEY: message}
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

    A level set explicitly (e.g. debug on ASGI send/receive spans) is kept.
    """
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


def format_query(query: str) -> str:
    """Render a query string as `a='1' & b='two'`, shortening long names and values."""
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
