"""numpy arrays and scalars, pandas DataFrames and Series logged as attributes, as the established SDK writes them.

Arrays become JSON arrays and data frames lists of rows; long ones are cut to their start and end, and the schema
records the full shape. logfire never imports numpy or pandas itself: see test_import_cost.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import logfire
from logfire.testing import CaptureLogfire

from .conftest import otel_env, run_python, script
from .otlp_receiver import OTLPReceiver

np: Any = pytest.importorskip('numpy')


def logged(capfire: CaptureLogfire, value: Any) -> tuple[Any, dict[str, Any]]:
    """The stored attribute and its `logfire.json_schema` entry for `value` logged as `x`."""
    logfire.info('value', x=value)  # no {x}: numpy's own str() of a huge array is slow
    attributes = capfire.exporter.exported_spans_as_dict()[-1]['attributes']
    return attributes['x'], json.loads(attributes['logfire.json_schema'])['properties']['x']


def ndarray_schema(shape: list[int], dtype: str = 'int64') -> dict[str, Any]:
    return {'type': 'array', 'x-python-datatype': 'ndarray', 'x-shape': shape, 'x-dtype': dtype}


def test_a_numpy_array_is_a_json_array_with_its_shape_and_dtype(capfire: CaptureLogfire) -> None:
    assert logged(capfire, np.array([[1, 2], [3, 4]])) == ('[[1,2],[3,4]]', ndarray_schema([2, 2]))
    with pytest.warns(PendingDeprecationWarning):  # numpy's, for using `matrix` at all
        matrix = np.matrix([[1, 2], [3, 4]])
    assert logged(capfire, matrix) == ('[[1,2],[3,4]]', ndarray_schema([2, 2]))
    assert logged(capfire, np.array([0.5, np.nan, np.inf])) == ('[0.5,"nan","inf"]', ndarray_schema([3], 'float64'))
    assert logged(capfire, np.array([True, False])) == ('[true,false]', ndarray_schema([2], 'bool'))
    assert logged(capfire, np.ma.masked_array([1, 2, 3], mask=[0, 1, 0])) == ('[1,null,3]', ndarray_schema([3]))


def test_long_axes_keep_their_first_and_last_five_entries(capfire: CaptureLogfire) -> None:
    table = np.array([[i * j for j in range(1, 13)] for i in range(1, 23)])

    stored, schema = logged(capfire, table)

    kept_rows, kept_columns = [1, 2, 3, 4, 5, 18, 19, 20, 21, 22], [1, 2, 3, 4, 5, 8, 9, 10, 11, 12]
    assert json.loads(stored) == [[i * j for j in kept_columns] for i in kept_rows]
    assert schema == ndarray_schema([22, 12])
    odd = logged(capfire, np.arange(11))[0]
    assert odd == '[0,1,2,3,4,6,7,8,9,10]'
    assert logged(capfire, np.arange(10))[0] == json.dumps(list(range(10)), separators=(',', ':'))


def test_a_huge_array_is_read_only_as_far_as_the_size_limit(capfire: CaptureLogfire) -> None:
    class Counted(np.ndarray):
        reads = 0

        def __getitem__(self, key: Any) -> Any:
            Counted.reads += 1
            return super().__getitem__(key)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]

    huge = np.broadcast_to(np.float32(1.5), (11,) * 7).view(Counted)  # 19 million values, none stored

    stored, schema = logged(capfire, huge)

    assert schema == ndarray_schema([11] * 7, 'float32')
    assert len(stored) < 60_000
    assert json.loads(stored)[-1] == '<9 more items>'
    assert Counted.reads < 5_000  # about 10,000 values in rows of 10, not the 10**7 the cut array holds


def test_numpy_scalars_are_plain_numbers_and_booleans(capfire: CaptureLogfire) -> None:
    logfire.info(
        'scalars',
        i=np.int64(7),
        u=np.uint8(255),
        f=np.float32(0.5),
        d=np.float64(2.5),
        b=np.bool_(True),
        inside=[np.int32(1), np.bool_(False), np.float16(1.5)],
    )

    attributes = capfire.exporter.exported_spans_as_dict()[-1]['attributes']
    assert {key: (attributes[key], type(attributes[key])) for key in 'iufdb'} == {
        'i': (7, int),
        'u': (255, int),
        'f': (0.5, float),
        'd': (2.5, float),
        'b': (True, bool),
    }
    assert attributes['inside'] == '[1,false,1.5]'
    assert json.loads(attributes['logfire.json_schema'])['properties'] == {
        'i': {},
        'u': {},
        'f': {},
        'd': {},
        'b': {},
        'inside': {'type': 'array'},
    }


def test_arrays_nested_in_other_values_get_their_schema_there(capfire: CaptureLogfire) -> None:
    stored, schema = logged(capfire, {'weights': np.array([1.5, 2.5]), 'n': 2})

    assert stored == '{"weights":[1.5,2.5],"n":2}'
    assert schema == {'type': 'object', 'properties': {'weights': ndarray_schema([2], 'float64')}}


def test_a_data_frame_is_a_list_of_rows_with_its_columns_and_indices(capfire: CaptureLogfire) -> None:
    pd: Any = pytest.importorskip('pandas')

    stored, schema = logged(capfire, pd.DataFrame({'col1': [1, 2], 'col2': [3.5, 4.5]}))

    assert stored == '[[1,3.5],[2,4.5]]'  # each value keeps its column's type
    assert schema == {
        'type': 'array',
        'x-python-datatype': 'DataFrame',
        'x-columns': ['col1', 'col2'],
        'x-column-count': 2,
        'x-indices': [0, 1],
        'x-row-count': 2,
    }


def test_a_big_data_frame_keeps_the_head_and_tail_pandas_would_display(capfire: CaptureLogfire) -> None:
    pd: Any = pytest.importorskip('pandas')
    frame = pd.DataFrame(
        {f'col{i}': [i * j for j in range(1, 23)] for i in range(1, 13)}, index=[f'i{j}' for j in range(1, 23)]
    )

    with pd.option_context('display.max_rows', 20, 'display.max_columns', 10):
        stored, schema = logged(capfire, frame)

    kept_rows = [*range(1, 11), *range(13, 23)]
    kept_columns = [1, 2, 3, 4, 5, 8, 9, 10, 11, 12]
    assert json.loads(stored) == [[i * j for i in kept_columns] for j in kept_rows]
    assert schema == {
        'type': 'array',
        'x-python-datatype': 'DataFrame',
        'x-columns': [f'col{i}' for i in kept_columns],
        'x-column-count': 12,
        'x-indices': [f'i{j}' for j in kept_rows],
        'x-row-count': 22,
    }


def test_without_pandas_display_limits_a_data_frame_is_still_cut(capfire: CaptureLogfire) -> None:
    pd: Any = pytest.importorskip('pandas')
    frame = pd.DataFrame(np.zeros((1_000, 50), dtype=int))

    with pd.option_context('display.max_rows', None, 'display.max_columns', 0):
        stored, schema = logged(capfire, frame)

    assert len(json.loads(stored)) == 60
    assert {len(row) for row in json.loads(stored)} == {20}
    assert (schema['x-row-count'], schema['x-column-count']) == (1_000, 50)
    assert schema['x-columns'] == [*range(10), *range(40, 50)]


def test_data_frame_labels_and_values_of_any_type_are_json(capfire: CaptureLogfire) -> None:
    pd: Any = pytest.importorskip('pandas')
    days = pd.date_range('2024-01-01', periods=2)
    frame = pd.DataFrame({'when': days, 'what': ['a', 'b'], 'n': [1.0, np.nan]}, index=days)

    stored, schema = logged(capfire, frame)

    assert json.loads(stored) == [['2024-01-01T00:00:00', 'a', 1.0], ['2024-01-02T00:00:00', 'b', 'nan']]
    assert schema['x-indices'] == ['2024-01-01T00:00:00', '2024-01-02T00:00:00']


def test_a_series_maps_its_labels_to_its_values(capfire: CaptureLogfire) -> None:
    pd: Any = pytest.importorskip('pandas')

    stored, schema = logged(capfire, pd.Series([1, 2, 3], index=['x', 'y', 'z']))

    assert stored == '{"x":1,"y":2,"z":3}'
    assert schema == {
        'type': 'object',
        'title': 'Series',
        'x-python-datatype': 'Mapping',
        'x-row-count': 3,
        'x-dtype': 'int64',
    }
    with pd.option_context('display.max_rows', 4):
        stored, schema = logged(capfire, pd.Series(range(100)))
    assert stored == '{"0":0,"1":1,"98":98,"99":99}'
    assert schema['x-row-count'] == 100


def test_a_program_that_imports_only_numpy_exports_its_arrays_without_loading_pandas(
    rx: OTLPReceiver, tmp_path: Path
) -> None:
    program = script(
        """
        import numpy
        logfire.info('weights {w}', w=numpy.arange(12).reshape(3, 4), n=numpy.int64(3))
        logfire.force_flush()
        print(json.dumps('pandas' in sys.modules))
        """
    )

    result = run_python(program, env=otel_env(rx, tmp_path))

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) is False
    [span] = rx.wait_for_spans(1)
    assert span.attributes['w'] == '[[0,1,2,3],[4,5,6,7],[8,9,10,11]]'
    assert span.attributes['n'] == 3
    assert json.loads(span.attributes['logfire.json_schema'])['properties'] == {
        'w': ndarray_schema([3, 4]),
        'n': {},
    }
