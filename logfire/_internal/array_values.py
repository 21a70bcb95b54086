"""numpy arrays and scalars, pandas DataFrames and Series as attribute values, without ever importing either.

A value is only recognised once its library is in `sys.modules` (the user's program imported it), so logging
ordinary values never pays for, or triggers, an import. Arrays are cut to the start and end of each long axis,
and data frames and series to the head and tail rows (and columns) pandas itself would display, with the full
shape recorded in the schema, as the established SDK writes them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, Final

JsonDict = dict[str, Any]
Encode = Callable[[Any], Any]
"""Turns a label (a column name, an index value) into a JSON value; the caller's encoder."""

MAX_AXIS_LENGTH: Final = 10
"""Longer numpy axes keep their first and last `MAX_AXIS_LENGTH // 2` entries (the shape is in the schema)."""
MAX_ARRAY_ITEMS: Final = 10_000
"""Values taken from one array at most; further rows become a `<N more items>` marker (7-D arrays and up)."""
DEFAULT_MAX_ROWS: Final = 60
"""Rows kept when pandas' `display.max_rows` sets no limit (`None` or 0): its own default."""
DEFAULT_MAX_COLUMNS: Final = 20
"""Columns kept when pandas' `display.max_columns` sets no limit, as it does in a terminal."""


def numpy_scalar(value: Any) -> bool | int | float | None:
    """The Python bool, int or float equal to a numpy bool, integer or float scalar, else None.

    `numpy.float64` is already a float; `numpy.int64`, `numpy.float32` and `numpy.bool_` are not, and the
    established SDK writes them as their repr. Here they are plain numbers and booleans, like the Python ones.
    """
    numpy = sys.modules.get('numpy')
    if numpy is None or not isinstance(value, numpy.generic):
        return None
    if isinstance(value, numpy.bool_):
        return bool(value)
    if isinstance(value, numpy.integer):
        return int(value)
    if isinstance(value, numpy.floating):
        return float(value)
    return None


def describe_array(obj: Any, encode: Encode) -> tuple[Any, JsonDict] | None:
    """A stand-in made of Python values for a numpy or pandas object, and the schema naming it; else None.

    Args:
        obj: Any value that `Encoder` has no rule for yet.
        encode: Encodes the labels that go into the schema (column names and index values).

    Returns:
        `(stand_in, schema)`: the caller encodes the stand-in (nested lists, rows or a dict) as the value.
    """
    numpy = sys.modules.get('numpy')
    if numpy is None:  # pandas imports numpy first: without numpy there is nothing to recognise
        return None
    if isinstance(obj, numpy.ndarray):
        return _ndarray(numpy, obj)
    scalar = numpy_scalar(obj)
    if scalar is not None:
        return scalar, {}
    pandas = sys.modules.get('pandas')
    if pandas is None:
        return None
    if isinstance(obj, pandas.DataFrame):
        return _data_frame(pandas, obj, encode)
    if isinstance(obj, pandas.Series):
        return _series(pandas, obj, encode)
    return None


def _ndarray(numpy: Any, array: Any) -> tuple[Any, JsonDict]:
    if isinstance(array, numpy.matrix):  # a matrix stays 2-D when indexed: its rows would never become lists
        array = numpy.asarray(array)
    schema: JsonDict = {'type': 'array', 'x-python-datatype': 'ndarray', 'x-shape': list(array.shape)}
    schema['x-dtype'] = str(array.dtype)
    return _nested_lists(array, [MAX_ARRAY_ITEMS]), schema


def _nested_lists(array: Any, room: list[int]) -> Any:
    """`array.tolist()` with each long axis cut, made from views: no copy of the array, at most `room` values.

    Cutting with `take()` or `numpy.ix_` would copy what is kept, 10**7 values for a 7-D array, and `tolist()`
    would then build as many Python objects; here each kept row is read, and only until the room is spent.
    """
    if array.ndim == 0:
        return array.tolist()
    length = len(array)
    positions = _head_and_tail(length, MAX_AXIS_LENGTH)
    if array.ndim == 1:
        values: list[Any] = (array if positions is None else array[positions]).tolist()
        room[0] -= len(values)
        return values
    rows: list[Any] = []
    for done, position in enumerate(range(length) if positions is None else positions):
        if room[0] <= 0:
            rows.append(f'<{(length if positions is None else len(positions)) - done} more items>')
            break
        row = array[position]
        if row.ndim >= array.ndim:  # an ndarray subclass whose rows are not sub-arrays: encoded as its repr
            raise TypeError(f'{type(array).__name__} rows keep {row.ndim} dimensions')
        rows.append(_nested_lists(row, room))
    return rows


def _data_frame(pandas: Any, frame: Any, encode: Encode) -> tuple[Any, JsonDict]:
    row_count, column_count = frame.shape
    rows = _head_and_tail(row_count, _display_limit(pandas, 'display.max_rows', DEFAULT_MAX_ROWS))
    columns = _head_and_tail(column_count, _display_limit(pandas, 'display.max_columns', DEFAULT_MAX_COLUMNS))
    if rows is not None or columns is not None:
        frame = frame.iloc[slice(None) if rows is None else rows, slice(None) if columns is None else columns]
    # Row by row, each value keeps its column's type (`iterrows()` would turn ints into floats beside a float).
    values = [list(row) for row in frame.itertuples(index=False, name=None)]
    schema: JsonDict = {
        'type': 'array',
        'x-python-datatype': 'DataFrame',
        'x-columns': [encode(label) for label in frame.columns],
        'x-column-count': column_count,
        'x-indices': [encode(label) for label in frame.index],
        'x-row-count': row_count,
    }
    return values, schema


def _series(pandas: Any, series: Any, encode: Encode) -> tuple[Any, JsonDict]:
    row_count = len(series)
    rows = _head_and_tail(row_count, _display_limit(pandas, 'display.max_rows', DEFAULT_MAX_ROWS))
    if rows is not None:
        series = series.iloc[rows]
    # The same JSON as the established SDK (which writes `series.to_dict()`), but cut like a data frame.
    values = {_key(encode(label)): value for label, value in series.items()}
    schema: JsonDict = {'type': 'object', 'title': type(series).__name__, 'x-python-datatype': 'Mapping'}
    schema['x-row-count'] = row_count
    schema['x-dtype'] = str(series.dtype)
    return values, schema


def _key(label: Any) -> str:
    return label if type(label) is str else repr(label)


def _display_limit(pandas: Any, option: str, default: int) -> int:
    limit = pandas.get_option(option)
    return limit if type(limit) is int and limit > 0 else default


def _head_and_tail(length: int, limit: int) -> Sequence[int] | None:
    """The positions of the first and last `limit // 2` of `length` items, or None when all `length` fit."""
    if length <= limit:
        return None
    half = limit // 2
    return [*range(half), *range(length - half, length)]
