"""`AttributeScrubber`: find likely secrets in attribute values, URL queries, JSON and message arguments.

A key that matches a pattern has its value redacted; a string value that matches is redacted whole;
JSON-encoded values are scrubbed structurally; URL query strings are scrubbed per parameter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from opentelemetry.util.types import AttributeValue

from .constants import ATTRIBUTES_SCRUBBED_KEY
from .options import ScrubbingOptions, ScrubMatch
from .scrub_patterns import (
    ANCHORS,
    CREDENTIAL_HEADERS,
    DEFAULT_PATTERNS,
    HEADER_PREFIXES,
    MARKER_PREFIX,
    SAFE_KEYS,
    SAFE_PREFIXES,
    URL_KEYS,
    marker,
)
from .statement_scrubbing import STATEMENT_KEYS, without_literals

_MARKER_SAFE: Final = "[]' "  # keep markers readable inside URLs
_MAX_CACHED_KEYS: Final = 5000
_MAX_CLEAN_TEXTS: Final = 4096
_MAX_CLEAN_TEXT_LENGTH: Final = 256

# What a key means for scrubbing, decided once per key (see `AttributeScrubber._classify`).
_SKIP: Final = 0  # the value is never changed: a safe key, or scrubbing is off
_CHECK_VALUE: Final = 1  # only a secret-looking value would be changed
_FULL: Final = 2  # headers and secret keys: always take the full path
_URL: Final = 3  # URL keys: only a string with '=' (a query) that looks secret would be changed
_WORDLESS: Final = (int, float)  # with None: values whose text in a message no pattern can match (bool is an int)


@dataclass
class _Result:
    scrubbed: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    root: tuple[str, ...] = ('attributes',)
    """Where the scrubbed values sit: a span's or log record's attributes, or a log record's body (`log_body`)."""


class AttributeScrubber:
    """Matching and redacting attribute values and message arguments; `Scrubber` adds the walk over a span."""

    def __init__(self, options: ScrubbingOptions | None) -> None:
        self.enabled = options is not None
        self.callback = options.callback if options else None
        extra = tuple(options.extra_patterns or ()) if options else ()
        self._extra = extra
        self._labelled_patterns: list[tuple[str, re.Pattern[str]]] | None = None  # compiled on the first match
        self.pattern = re.compile(
            '|'.join(f'(?:{rx})' for _, rx in DEFAULT_PATTERNS + tuple((p, p) for p in extra)), re.I
        )
        self.extra_pattern = re.compile('|'.join(f'(?:{p})' for p in extra), re.IGNORECASE) if extra else None
        # The shortcut is only sound while each default pattern requires one of the anchors.
        anchored = all(any(anchor in rx for anchor in ANCHORS) for _, rx in DEFAULT_PATTERNS)
        self._anchors = ANCHORS if anchored else None
        self._key_cache: dict[str, re.Match[str] | None] = {}
        self._kinds: dict[str, int] = {}
        self._skip_keys: set[str] = set()  # the keys of kind _SKIP, the most common, for a one-step test
        # Short texts known to match no pattern: a value is usually searched at least twice (when the span
        # starts and when it ends) and the same values recur. Only clean texts are kept, never secrets.
        self._clean_texts: set[str] = set()

    # ---- matching ---------------------------------------------------------------------------------

    def _search(self, text: str) -> re.Match[str] | None:
        """`self.pattern.search(text)`, skipped for texts known to be clean or that the anchors prove clean."""
        clean = self._clean_texts
        exact = type(text) is str
        if exact and text in clean:
            return None
        anchors = self._anchors
        if anchors is not None and text.isascii():
            # For ASCII text, matching case-insensitively is matching the lower-cased text (non-ASCII text
            # can match differently, e.g. 'ſ' matches 's', so it always takes the full search).
            lowered = text.lower()
            for anchor in anchors:
                if anchor in lowered:
                    break
            else:
                extra = self.extra_pattern
                if extra is None or extra.search(text) is None:
                    if exact and len(text) <= _MAX_CLEAN_TEXT_LENGTH:
                        self._remember_clean(text)
                    return None
        match = self.pattern.search(text)
        if match is None and exact and len(text) <= _MAX_CLEAN_TEXT_LENGTH:
            self._remember_clean(text)
        return match

    def _remember_clean(self, text: str) -> None:
        clean = self._clean_texts
        if len(clean) >= _MAX_CLEAN_TEXTS:
            clean.clear()
        clean.add(text)

    def _key_match(self, key: str) -> re.Match[str] | None:
        try:
            return self._key_cache[key]
        except KeyError:
            match = self._search(key)
            if len(self._key_cache) < _MAX_CACHED_KEYS:
                self._key_cache[key] = match
            return match

    def _classify(self, key: str) -> int:
        """Which path `_scrub_attribute` takes for `key`, mirroring its checks in the same order."""
        if key.startswith(HEADER_PREFIXES):
            kind = _FULL
        elif not self.enabled or (key not in URL_KEYS and (key in SAFE_KEYS or key.startswith(SAFE_PREFIXES))):
            kind = _SKIP
        elif key in URL_KEYS:
            kind = _URL
        elif self._key_match(key) is not None:
            kind = _FULL
        else:
            kind = _CHECK_VALUE
        if len(self._kinds) < _MAX_CACHED_KEYS:
            self._kinds[key] = kind
            if kind == _SKIP:
                self._skip_keys.add(key)
        return kind

    def may_change(self, attributes: Mapping[str, AttributeValue]) -> bool:
        """A cheap first pass: False only when `_scrub_attribute` would return every value unchanged.

        Keys are classified once; values are fetched only for keys that are neither safe nor secret, and
        a string value is then only searched, as `_scrub_string_attribute` does first.
        """
        skip = self._skip_keys
        kinds = self._kinds
        clean = self._clean_texts
        for key in attributes:
            if key in skip:
                continue
            kind = kinds.get(key)
            if kind is None:
                kind = self._classify(key)
                if kind == _SKIP:
                    continue
            if kind == _FULL:
                return True
            value = attributes[key]
            if kind == _URL:
                if isinstance(value, str) and '=' in value and self._search(value) is not None:
                    return True
                continue
            if type(value) is str:
                if value not in clean and self._search(value) is not None:
                    return True
            elif isinstance(value, str):
                if self._search(value) is not None:
                    return True
            elif isinstance(value, (list, tuple)):
                return True
        return False

    def _labelled(self) -> list[tuple[str, re.Pattern[str]]]:
        """Each pattern alone, with the label markers name; only needed once something matched."""
        if self._labelled_patterns is None:
            labelled = [(label, re.compile(rx, re.IGNORECASE)) for label, rx in DEFAULT_PATTERNS]
            labelled += [(rx, re.compile(rx, re.IGNORECASE)) for rx in self._extra]
            self._labelled_patterns = labelled
        return self._labelled_patterns

    def _label(self, text: str, *, extra_only: bool = False) -> str:
        labelled = self._labelled()
        for label, rx in labelled[len(DEFAULT_PATTERNS) :] if extra_only else labelled:
            if rx.search(text):
                return label
        return 'pattern'

    def _decide(
        self,
        path: tuple[str | int, ...],
        value: Any,
        match: re.Match[str],
        reason: str,
        root: tuple[str, ...] = ('attributes',),
    ) -> tuple[bool, Any]:
        """Return (redacted?, new value), asking the callback first."""
        if self.callback is not None:
            kept = self.callback(ScrubMatch(path=(*root, *path), value=value, pattern_match=match))
            if kept is not None:
                return False, kept
        return True, marker(reason)

    # ---- values -----------------------------------------------------------------------------------

    def _scrub_value(self, path: tuple[str | int, ...], value: Any, result: _Result) -> Any:
        """Scrub a decoded JSON-ish value recursively."""
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for k, v in value.items():  # pyright: ignore[reportUnknownVariableType]
                key = str(k)  # pyright: ignore[reportUnknownArgumentType]
                key_match = self._key_match(key)
                if key_match is not None:
                    reason = key_match.group(0).lower()
                    redacted, new = self._decide((*path, key), v, key_match, reason, result.root)
                    if redacted:
                        result.scrubbed.append(
                            {'path': [*result.root, *path, key], 'matched_substring': key_match.group(0)}
                        )
                    out[key] = new
                else:
                    out[key] = self._scrub_value((*path, key), v, result)
            return out
        if isinstance(value, (list, tuple)):
            return [self._scrub_value((*path, i), v, result) for i, v in enumerate(value)]  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]
        if isinstance(value, str) and not value.startswith(MARKER_PREFIX):
            match = self._search(value)
            if match is not None:
                label = self._label(value)
                redacted, new = self._decide(path, value, match, label, result.root)
                if redacted:
                    result.scrubbed.append({'path': [*result.root, *path], 'matched_substring': label})
                return new
        return value

    def _scrub_string_attribute(self, key: str, value: str, result: _Result) -> str:
        return self._scrub_string((key,), value, result)

    def _scrub_string(self, path: tuple[str | int, ...], value: str, result: _Result) -> str:
        if value.startswith(MARKER_PREFIX) or self._search(value) is None:
            return value
        if value[:1] in '{[':
            try:
                decoded = json.loads(value)
            except ValueError:
                decoded = None
            if isinstance(decoded, (dict, list)):
                return json.dumps(self._scrub_value(path, decoded, result), separators=(',', ':'))
        new = self._scrub_value(path, value, result)
        return new if isinstance(new, str) else json.dumps(new)

    def scrub_any_value(self, root: tuple[str, ...], value: Any) -> tuple[Any, list[dict[str, Any]]]:
        """Scrub a value that may nest mappings and lists (a log record's body, or one of its attributes).

        `root` is where it sits (`('log_body',)`, or `('attributes', key)`), for `ScrubMatch.path` and the notes.
        Returns the new value (`value` itself when nothing changed) and the notes for `logfire.scrubbed`.
        """
        result = _Result(root=root)
        original: Any = value
        new: Any = value
        if isinstance(value, str):
            new = self._scrub_string((), value, result)
        elif isinstance(value, (Mapping, list, tuple)):
            new = self._scrub_value((), value, result)
        return (original if new == original else new), result.scrubbed

    def _scrub_url(self, key: str, value: str, result: _Result) -> str:
        """Scrub query parameters one by one: `?api_key=...` loses its value, the rest stays readable."""
        if '=' not in value or self._search(value) is None:
            return value
        if key == 'url.query':
            return self._scrub_query(key, value, result)
        parts = urlsplit(value)
        if not parts.query:
            return value
        return urlunsplit(parts._replace(query=self._scrub_query(key, parts.query, result)))

    def _scrub_statement(self, key: str, value: str, result: _Result) -> str:
        """A database statement that looks secret loses its literal values, not its text (`statement_scrubbing`)."""
        if value.startswith(MARKER_PREFIX):
            return value
        match = self._search(value)
        if match is None:
            return value
        label = self._label(value)
        redacted, new = self._decide((key,), value, match, label)
        if not redacted:
            return str(new)
        scrubbed = without_literals(value)
        if scrubbed == value:  # only names matched: parameters are never recorded, so its values are its literals
            return value
        result.scrubbed.append({'path': ['attributes', key], 'matched_substring': label})
        return scrubbed

    def _scrub_query(self, key: str, query: str, result: _Result) -> str:
        pairs = parse_qsl(query, keep_blank_values=True)
        changed = False
        out: list[str] = []
        for name, val in pairs:
            if val.startswith(MARKER_PREFIX):  # scrubbed when the span started
                out.append(f'{quote(name, safe="")}={quote(val, safe=_MARKER_SAFE)}')
                continue
            match = self._key_match(name) or self._search(val)
            if match is not None:
                reason = match.group(0).lower() if self._key_match(name) else self._label(val)
                redacted, new = self._decide((key, name), val, match, reason)
                if redacted:
                    result.scrubbed.append({'path': ['attributes', key, name], 'matched_substring': reason})
                changed = changed or new != val
                val = str(new)
            out.append(f'{quote(name, safe="")}={quote(val, safe=_MARKER_SAFE)}')
        return '&'.join(out) if changed else query

    # ---- attributes -------------------------------------------------------------------------------

    def scrub_attributes(self, attributes: Mapping[str, AttributeValue]) -> dict[str, AttributeValue] | None:
        """Return scrubbed attributes (with `logfire.scrubbed`), or None when nothing needed changing."""
        return self._scrub_attributes(attributes) if self.may_change(attributes) else None

    def _scrub_attributes(self, attributes: Mapping[str, AttributeValue]) -> dict[str, AttributeValue] | None:
        result = _Result()
        changes: dict[str, AttributeValue] = {}
        for key, value in attributes.items():
            new = self._scrub_attribute(key, value, result)
            if new is not value:
                changes[key] = new
        if not changes:
            return None
        scrubbed = dict(attributes)
        scrubbed.update(changes)
        if result.scrubbed:
            previous = attributes.get(ATTRIBUTES_SCRUBBED_KEY)
            entries: list[Any] = json.loads(previous) if isinstance(previous, str) else []
            scrubbed[ATTRIBUTES_SCRUBBED_KEY] = json.dumps(entries + result.scrubbed, separators=(',', ':'))
        return scrubbed

    def _scrub_attribute(self, key: str, value: AttributeValue, result: _Result) -> AttributeValue:
        if key.startswith(HEADER_PREFIXES):
            return self._scrub_header(key, value, result)
        if not self.enabled:
            return value
        if key in URL_KEYS:
            return self._scrub_url(key, value, result) if isinstance(value, str) else value
        if key in STATEMENT_KEYS and isinstance(value, str):
            return self._scrub_statement(key, value, result)
        if key in SAFE_KEYS or key.startswith(SAFE_PREFIXES):
            return value
        key_match = self._key_match(key)
        if key_match is not None:
            if isinstance(value, str) and value.startswith(MARKER_PREFIX):
                return value
            redacted, new = self._decide((key,), value, key_match, key_match.group(0).lower())
            if redacted:
                result.scrubbed.append({'path': ['attributes', key], 'matched_substring': key_match.group(0)})
            return new if new is not value else value
        if isinstance(value, str):
            new_str = self._scrub_string_attribute(key, value, result)
            return value if new_str == value else new_str
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], str):
            items = [self._scrub_string_attribute(key, str(v), result) for v in value]
            return value if list(value) == items else tuple(items)
        return value

    def _scrub_header(self, key: str, value: AttributeValue, result: _Result) -> AttributeValue:
        if isinstance(value, (list, tuple)) and value and str(value[0]).startswith(MARKER_PREFIX):
            return value  # redacted when the span started
        name = key.split('.', 3)[-1].replace('_', '-').lower()
        if name in CREDENTIAL_HEADERS:
            match = re.match(r'.*', name)
            assert match is not None
            redacted, new = self._decide((key,), value, match, name)
            if redacted:
                result.scrubbed.append({'path': ['attributes', key], 'matched_substring': name})
                return (str(new),)
            return new
        if not self.enabled:
            return value
        key_match = self._key_match(name)
        if key_match is not None:
            redacted, new = self._decide((key,), value, key_match, key_match.group(0).lower())
            if redacted:
                result.scrubbed.append({'path': ['attributes', key], 'matched_substring': key_match.group(0)})
                return (str(new),)
            return new
        if isinstance(value, (list, tuple)):
            items = [self._scrub_string_attribute(key, str(v), result) for v in value]
            return value if list(value) == items else tuple(items)
        return value

    # ---- messages ---------------------------------------------------------------------------------

    def message_values(self, template: str, attributes: dict[str, Any]) -> dict[str, Any]:
        """Attributes to format the message with: values of secret keys (or secret-looking strings) masked.

        This closes the leak of a secret through `logfire.msg` when its key, not its value, matched.
        """
        if not self.enabled:
            return attributes
        masked: dict[str, Any] | None = None
        kinds = self._kinds
        clean = self._clean_texts
        for key, value in attributes.items():
            if key not in template:
                continue
            if kinds.get(key) == _CHECK_VALUE and (
                value is None or isinstance(value, _WORDLESS) or (type(value) is str and value in clean)
            ):
                continue  # a key known not to match, and a value that needs no search or is known clean
            match = self._key_match(key)
            reason = match.group(0).lower() if match is not None else ''
            if match is None:
                text = value if isinstance(value, str) else _message_text(value)
                if text is not None and not text.startswith(MARKER_PREFIX):
                    match = self._search(text)
                    if match is not None:
                        reason = self._label(text)
            if match is not None:
                if masked is None:
                    masked = dict(attributes)
                masked[key] = self._decide((key,), value, match, reason)[1]
        return masked if masked is not None else attributes


def _message_text(value: Any) -> str | None:
    """How a non-string value reads in a message; None for numbers and booleans, which hold no words."""
    if value is None or isinstance(value, _WORDLESS):
        return None
    try:
        return str(value)
    except Exception:
        return None
