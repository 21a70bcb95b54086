"""What scrubbing looks for: the default patterns, the keys that never or always hold secrets, and the marker."""

from __future__ import annotations

from typing import Final

# (label, regex). The label is what markers say when a pattern matched inside a value.
DEFAULT_PATTERNS: Final[tuple[tuple[str, str], ...]] = (
    ('password', r'password'),
    ('passwd', r'passwd'),
    ('mysql_pwd', r'mysql_pwd'),
    ('passphrase', r'passphrase'),
    ('secret', r'secret'),
    ('auth', r'auth(?!ors?(?:\b|_)|ority)'),
    ('credential', r'credential'),
    ('private key', r'private[._ -]?key'),
    ('api key', r'api[._ -]?key'),
    ('session', r'session'),
    ('cookie', r'cookie'),
    ('csrf', r'csrf'),
    ('xsrf', r'xsrf'),
    ('jwt', r'jwt'),
    ('ssn', r'ssn'),
    ('social security', r'social[._ -]?security'),
    ('credit card', r'credit[._ -]?card'),
    ('signing key', r'(?:signing|hmac)[._ -]?key'),
    ('token', r'(?:access|refresh|bearer|id)[._ -]?token'),
    ('logfire token', r'logfire[._ -]?token'),
    ('logfire token', r'pylf_v\d+_[a-z0-9]+_[a-z0-9_]+'),
)

ANCHORS: Final = (
    'pass',
    'pwd',
    'secret',
    'auth',
    'credential',
    'private',
    'api',
    'session',
    'cookie',
    'srf',
    'jwt',
    'ssn',
    'social',
    'credit',
    'signing',
    'hmac',
    'token',
    'pylf_v',
)
"""Every match of a default pattern contains one of these, lower-cased. Looking for them in ASCII text first is
an order of magnitude faster than searching it with the case-insensitive alternation of all the patterns (which
can cost hundreds of nanoseconds per character), and most values contain none of them."""

CREDENTIAL_HEADERS: Final = frozenset({'authorization', 'cookie', 'set-cookie', 'proxy-authorization', 'x-api-key'})
HEADER_PREFIXES: Final = ('http.request.header.', 'http.response.header.')
URL_KEYS: Final = frozenset({'http.url', 'url.full', 'url.query', 'http.target'})
SAFE_KEYS: Final = frozenset(
    {
        'http.method',
        'http.request.method',
        'http.route',
        'http.status_code',
        'http.response.status_code',
        'http.scheme',
        'url.scheme',
        'url.path',
        'http.flavor',
        'network.protocol.version',
        'http.host',
        'http.server_name',
        'server.address',
        'server.port',
        'client.address',
        'client.port',
        'net.host.name',
        'net.host.port',
        'net.peer.ip',
        'net.peer.port',
        'http.user_agent',
        'user_agent.original',
        'error.type',
        'exception.type',
    }
)
SAFE_PREFIXES: Final = ('logfire.', 'code.')
MARKER_PREFIX: Final = "[Scrubbed due to '"


def marker(reason: str) -> str:
    """The value that replaces a redacted one."""
    return f"{MARKER_PREFIX}{reason}']"


def is_safe_key(key: object) -> bool:
    """Whether values under `key` are never secrets: a well-known HTTP/URL key, or one of logfire's own."""
    return isinstance(key, str) and (key in SAFE_KEYS or key.startswith(SAFE_PREFIXES))
