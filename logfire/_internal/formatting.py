"""Message templates: fill `'hello {name}'` from attributes, and recover the template behind an f-string.

Formatting never raises into user code: a template that cannot be filled becomes the message as it is, and one
`FormattingFailedWarning` says why.
"""

from __future__ import annotations

import ast
import inspect
import types
import warnings
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from string import Formatter
from typing import Any, Final, NamedTuple

from .json_encoding import safe_repr, truncate_middle

__all__ = ['FormattingFailedWarning', 'InspectArgumentsFailedWarning', 'format_message', 'inspect_fstring']

MAX_FORMATTED_VALUE_LENGTH: Final = 2_000
"""Each value put into a message keeps at most this many characters, its middle elided by `...`."""
_MAX_CACHED_TEMPLATE_LENGTH: Final = 2_000  # longer templates are parsed on every call rather than pinned in the cache
_MAX_CALL_SITES: Final = 4_096
_SHORT_INT: Final = 10**18  # ints below this in magnitude format as str() does, well within the length limit
_PACKAGE_DIR: Final = str(Path(__file__).resolve().parent.parent)


class FormattingFailedWarning(UserWarning):
    """A message template could not be filled from the attributes, so the template itself became the message."""


class InspectArgumentsFailedWarning(UserWarning):
    """An f-string message could not be turned back into a template, so the formatted string became the message."""


class _Field(NamedTuple):
    key: str  # the whole field name, which is looked up as an attribute first
    root: str
    lookups: tuple[tuple[bool, str | int], ...]  # (is_attribute, name or index) after the root
    name_error: str | None  # why the name cannot be split into root and lookups
    conversion: str | None
    spec: str | tuple[str | _Field, ...]  # a spec with `{fields}` of its own is parsed too
    label: str  # the `x=` of a self-documenting `{x=}`, else ''
    plain: bool  # no conversion, spec or label: a str value goes in unchanged


_Chunks = tuple['str | _Field', ...]
_formatter: Final = Formatter()


class _FormattingError(Exception):
    pass


def format_message(template: str, attributes: Mapping[str, Any]) -> str:
    """Fill a `str.format`-style template from the attributes.

    Supports format specs, `!r`/`!s`/`!a`, `{a.b}` and `{a[0]}` lookups and `{x=}`, which renders as `x=`
    followed by the value. str values go in as they are, anything else (`None` too) through `format()`;
    each is cut to `MAX_FORMATTED_VALUE_LENGTH` characters.

    Args:
        template: The message template, e.g. `'hello {name}'`.
        attributes: The values for the template's fields.

    Returns:
        The message; or the template itself, after one `FormattingFailedWarning`, when it cannot be filled.

    Example:
        >>> format_message('hello {name}, {n:.1f} {x=}', {'name': 'Ada', 'n': 2, 'x': [1]})
        'hello Ada, 2.0 x=[1]'
    """
    chunks = _fstring_templates.get(template)
    if chunks is None:
        chunks = _parse(template) if len(template) <= _MAX_CACHED_TEMPLATE_LENGTH else _parse.__wrapped__(template)
    try:
        if isinstance(chunks, str):
            raise _FormattingError(chunks)
        return _render(chunks, attributes)
    except _FormattingError as exc:
        _warn(
            f'Formatting of the message {truncate_middle(repr(template), 200)} failed: {exc}. The template is used '
            'as the message instead. Pass each field as a keyword argument, or write literal braces as {{ and }}.',
            FormattingFailedWarning,
        )
        return template


def _render(chunks: _Chunks, attributes: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for chunk in chunks:
        if isinstance(chunk, str):
            parts.append(chunk)
            continue
        if chunk.plain:  # the common `{name}`: a short str goes in as it is, an int or float as `format()` writes it
            value: Any = attributes.get(chunk.key)
            cls = type(value)  # pyright: ignore[reportUnknownVariableType]
            if cls is str:
                if len(value) <= MAX_FORMATTED_VALUE_LENGTH:
                    parts.append(value)
                    continue
            elif cls is int or cls is float:
                text = str(value) if cls is float or -_SHORT_INT < value < _SHORT_INT else None
                if text is not None:
                    parts.append(text)
                    continue
        parts.append(_render_field(chunk, attributes))
    return ''.join(parts)


def _render_field(field: _Field, attributes: Mapping[str, Any]) -> str:
    key = field.key
    value = attributes[key] if key in attributes else _lookup(field, attributes)
    if field.conversion is not None:
        value = _convert(field, value)
    spec = field.spec if isinstance(field.spec, str) else _render(field.spec, attributes)
    if type(value) is str and not spec:
        text = value
    else:
        try:
            text = format(value, spec)
        except Exception as exc:
            with_spec = f' with the spec {spec!r}' if spec else ''
            raise _FormattingError(f'formatting {field.key!r}{with_spec} raised {_describe(exc)}') from None
    return field.label + truncate_middle(text, MAX_FORMATTED_VALUE_LENGTH)


def _lookup(field: _Field, attributes: Mapping[str, Any]) -> Any:
    if field.name_error is not None:
        raise _FormattingError(field.name_error)
    if not field.root or field.root.isdigit():
        raise _FormattingError(f'positional fields like {{{field.key}}} are not supported; name the field instead')
    if field.root not in attributes:
        raise _FormattingError(f'the attribute {field.root!r} was not given')
    value = attributes[field.root]
    for is_attribute, name in field.lookups:
        try:
            value = getattr(value, str(name)) if is_attribute else value[name]
        except Exception as exc:
            raise _FormattingError(f'looking up {field.key!r} raised {_describe(exc)}') from None
    return value


def _convert(field: _Field, value: Any) -> str:
    convert = {'r': repr, 's': str, 'a': ascii}[field.conversion or 's']
    try:
        return convert(value)
    except Exception as exc:
        raise _FormattingError(f'converting {field.key!r} with !{field.conversion} raised {_describe(exc)}') from None


def _describe(exc: Exception) -> str:
    try:
        text = str(exc)
    except Exception:
        text = safe_repr(exc)
    return truncate_middle(f'{type(exc).__name__}: {text}', 300)


@lru_cache(maxsize=2048)
def _parse(template: str) -> _Chunks | str:
    """Parse a template once: its chunks, or the reason it is malformed."""
    try:
        return _parse_chunks(template, nested=False)
    except ValueError as exc:
        return str(exc)


def _parse_chunks(template: str, *, nested: bool) -> _Chunks:
    chunks: list[str | _Field] = []
    for literal, name, spec, conversion in list(_formatter.parse(template)):
        if literal:
            chunks.append(literal)
        if name is None:
            continue
        label = ''
        if name.endswith('='):
            label, name = name, name[:-1]
        if conversion is not None and conversion not in ('r', 's', 'a'):
            raise ValueError(f'the field {{{name}!{conversion}}} has an unknown conversion; use !r, !s or !a')
        parsed_spec: str | _Chunks = spec or ''
        if '{' in parsed_spec:
            if nested:
                raise ValueError(f'the format spec of {{{name}}} nests fields more than one level deep')
            parsed_spec = _parse_chunks(parsed_spec, nested=True)
        chunks.append(_make_field(name, conversion, parsed_spec, label))
    return tuple(chunks)


def _make_field(name: str, conversion: str | None, spec: str | _Chunks, label: str) -> _Field:
    try:
        root, lookups, name_error = *_split_field_name(name), None
    except ValueError as exc:
        root, lookups, name_error = name, (), f'the field {{{name}}} is malformed: {exc}'
    plain = conversion is None and not spec and not label
    return _Field(name, root, lookups, name_error, conversion, spec, label, plain)


def _split_field_name(name: str) -> tuple[str, tuple[tuple[bool, str | int], ...]]:
    """Split `a.b[0]` into `'a'` and its lookups, with the same rules as `str.format`."""
    end = len(name)
    i = next((k for k, char in enumerate(name) if char in '.['), end)
    root = name[:i]
    lookups: list[tuple[bool, str | int]] = []
    while i < end:
        if name[i] == '.':
            j = next((k for k in range(i + 1, end) if name[k] in '.['), end)
            if j == i + 1:
                raise ValueError('an attribute name after "." is empty')
            lookups.append((True, name[i + 1 : j]))
        else:
            j = name.find(']', i)
            if j <= i + 1:
                raise ValueError('"[" has no matching "]"' if j == -1 else 'an index between "[]" is empty')
            index = name[i + 1 : j]
            lookups.append((False, int(index) if index.isdigit() else index))
            j += 1
            if j < end and name[j] not in '.[':
                raise ValueError('only "." or "[" may follow "]"')
        i = j
    return root, tuple(lookups)


def _warn(message: str, category: type[Warning], at: types.FrameType | None = None) -> None:
    """Warn, pointing at the frame `at` if given, else at the first caller outside logfire."""
    frame = inspect.currentframe()
    frame = frame.f_back if frame is not None else None
    level, outside, depth = None, None, 2
    while frame is not None and depth < 200:
        if frame is at:
            level = depth
            break
        if outside is None and not frame.f_code.co_filename.startswith(_PACKAGE_DIR):
            outside = depth
            if at is None:
                break
        frame, depth = frame.f_back, depth + 1
    warnings.warn(message, category, stacklevel=level or outside or 2)


class _CallSite:
    """What one call site's f-string needs to be rebuilt: the template, and its expressions compiled once."""

    __slots__ = ('code', 'flat', 'head', 'keys', 'tail', 'template', 'warned')

    def __init__(self, template: str, keys: tuple[str, ...], code: types.CodeType, head: str, tail: str) -> None:
        self.template = template
        self.keys = keys
        self.code = code
        # Comprehensions and lambdas compiled here cannot see the frame's locals as closures do, so they get one
        # namespace holding both globals and locals.
        self.flat = any(isinstance(c, types.CodeType) for c in code.co_consts)
        self.head = head
        self.tail = tail
        self.warned = False

    def evaluate(self, frame: types.FrameType, message: str) -> tuple[str, dict[str, Any]] | None:
        if not (message.startswith(self.head) and message.endswith(self.tail)):
            return self._fail(frame, 'the formatted message does not match the f-string at this call site')
        try:
            if self.flat:
                values = eval(self.code, {**frame.f_globals, **frame.f_locals})
            else:
                values = eval(self.code, frame.f_globals, frame.f_locals)
        except Exception as exc:
            return self._fail(frame, f'evaluating its expressions again raised {_describe(exc)}')
        return self.template, dict(zip(self.keys, values, strict=True))

    def _fail(self, frame: types.FrameType, reason: str) -> None:
        if not self.warned:
            self.warned = True
            _warn_inspect(frame, reason)


# (id(code), f_lasti) -> (code, call site or None when the message there is not an f-string). Keyed by id because
# hashing a code object hashes all its constants; each entry holds its code object, so the id cannot be reused.
_call_sites: dict[tuple[int, int], tuple[types.CodeType, _CallSite | None]] = {}
_fstring_templates: dict[str, _Chunks] = {}
"""Chunks of the templates rebuilt from f-strings: their fields are whole expressions, which `str.format` syntax
cannot always express (`{a != b}`, `{d[1:2]}`), so `format_message` takes these instead of parsing the text."""


def inspect_fstring(frame: types.FrameType, message: str) -> tuple[str, dict[str, Any]] | None:
    """Recover the template and values of an f-string passed as a call's message.

    For `logfire.info(f'hello {name} {n + 1}')`, with `frame` the caller's frame (still executing that call)
    and `message` the formatted string, this returns `('hello {name} {n + 1}', {'name': ..., 'n + 1': ...})`.
    The call node is found with `executing`; each expression is then evaluated again in `frame`, so an
    expression with side effects runs twice. Format specs and conversions stay in the template (`{x:.2f}`,
    `{x!r}`); `{x=}` becomes `x={x!r}`, as Python expands it. What is learnt about a call site is cached.

    Args:
        frame: The frame of the user's code making the call.
        message: The message the call received, i.e. the f-string already formatted.

    Returns:
        The template and its attributes, or `None` when the message is not an f-string, or when it cannot be
        inspected: the source is unavailable (a REPL, `exec()`), the call cannot be identified, or evaluating
        fails. In those cases one `InspectArgumentsFailedWarning` per call site says so.
    """
    code = frame.f_code
    key = (id(code), frame.f_lasti)
    entry = _call_sites.get(key)
    if entry is not None:
        site = entry[1]
    else:
        site = _analyse_call_site(frame)
        if len(_call_sites) >= _MAX_CALL_SITES:
            _call_sites.clear()
            _fstring_templates.clear()
        _call_sites[key] = (code, site)
    return None if site is None else site.evaluate(frame, message)


def _analyse_call_site(frame: types.FrameType) -> _CallSite | None:
    import executing  # only needed the first time each call site is seen

    try:
        found = executing.Source.executing(frame)
        node, source = found.node, found.source
    except Exception as exc:
        return _warn_inspect(frame, f'finding the call in the source raised {_describe(exc)}')
    if not source.text:
        # Every call site in a REPL or `python -c` lands here, f-string or not: say it once per process.
        global _warned_no_source
        if not _warned_no_source:
            _warned_no_source = True
            _warn_inspect(
                frame,
                'its source code is not available (e.g. it runs in a REPL or through exec()); this is said once '
                'for all such calls, and inspect_arguments=False turns the inspection off',
            )
        return None
    if not isinstance(node, ast.Call):
        return _warn_inspect(frame, 'the call could not be identified in the source')
    message_node = (
        node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == 'msg_template'), None)
    )
    if not isinstance(message_node, ast.JoinedStr):
        return None
    expressions: list[tuple[ast.expr, str]] = []
    template, chunks = _fstring_template(message_node, source.text, expressions)
    if any(isinstance(n, _NOT_REPEATABLE) for e, _ in expressions for n in ast.walk(e)):
        return _warn_inspect(frame, 'it contains await, yield or := expressions, which cannot be evaluated again')
    try:
        tree = ast.Expression(ast.Tuple([e for e, _ in expressions], ast.Load()))
        code = compile(ast.fix_missing_locations(tree), frame.f_code.co_filename, 'eval')
    except Exception as exc:  # e.g. a name bound in an enclosing comprehension
        return _warn_inspect(frame, f'compiling its expressions raised {_describe(exc)}')
    values = message_node.values
    head, tail = (_literal(values[0]), _literal(values[-1])) if values else ('', '')
    if _parse(template) != chunks:  # only when `str.format` syntax cannot express the f-string
        _fstring_templates[template] = chunks
    return _CallSite(template, tuple(k for _, k in expressions), code, head, tail)


def _fstring_template(
    joined: ast.JoinedStr, source_text: str, expressions: list[tuple[ast.expr, str]]
) -> tuple[str, _Chunks]:
    """Rebuild an f-string as a template: its text, and its chunks with each expression's source as a field."""
    texts: list[str] = []
    chunks: list[str | _Field] = []
    for value in joined.values:
        if not isinstance(value, ast.FormattedValue):
            literal = _literal(value)
            texts.append(literal.replace('{', '{{').replace('}', '}}'))
            chunks.append(literal)
            continue
        key = _source_of(value.value, source_text)
        expressions.append((value.value, key))
        conversion = None if value.conversion == -1 else chr(value.conversion)
        spec_text, spec = '', ''
        if isinstance(value.format_spec, ast.JoinedStr):
            spec_text, spec_chunks = _fstring_template(value.format_spec, source_text, expressions)
            spec = spec_chunks if any(isinstance(c, _Field) for c in spec_chunks) else spec_text
        texts.append(f'{{{key}{"!" + conversion if conversion else ""}{":" + spec_text if spec_text else ""}}}')
        chunks.append(_make_field(key, conversion, spec, ''))
    return ''.join(texts), tuple(chunks)


_NOT_REPEATABLE: Final = (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)


def _literal(node: ast.expr) -> str:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else ''


def _source_of(node: ast.expr, source_text: str) -> str:
    """The expression as written, if its recorded position is right (older Pythons get it wrong in f-strings)."""
    segment = ast.get_source_segment(source_text, node)
    if segment and '\n' not in segment:
        try:
            if ast.dump(ast.parse(segment.strip(), mode='eval').body) == ast.dump(node):
                return segment.strip()
        except SyntaxError:
            pass
    return ast.unparse(node)


_warned_no_source = False


def _warn_inspect(frame: types.FrameType, reason: str) -> None:
    where = f'{frame.f_code.co_filename}:{frame.f_lineno}'
    _warn(
        f'Could not inspect the f-string message at {where}: {reason}. The formatted string is used as the '
        f'message and its values are not recorded as attributes; to record them, pass a template and keyword '
        f"arguments instead, e.g. logfire.info('hello {{name}}', name=name).",
        InspectArgumentsFailedWarning,
        at=frame,
    )
