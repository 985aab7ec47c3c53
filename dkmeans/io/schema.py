"""Which columns are features, which are ids, and whether every file agrees.

Type rules (decided once, here):

- **Numeric** (chosen by default, and accepted as features): signed and unsigned integers,
  floats (half, single, double), decimals, and dictionary-encoded columns of those. Nulls
  become NaN. Integers wider than the target float lose precision silently, as in NumPy.
- **Boolean** columns are accepted as features when named explicitly (``False``/``True``
  become ``0.0``/``1.0``) but are not chosen by default: flags are rarely meant as distances,
  and ``pandas.DataFrame.select_dtypes("number")`` leaves them out too.
- **Null-typed** columns (all values null; writers emit them for empty or all-null data) are
  accepted in any one file for a feature that is numeric elsewhere: they read as NaN.
- **Hive partition keys** are columns (``int64`` when every value is an integer, otherwise
  ``string``) usable as features or ids, but never chosen by default: they describe where a
  file sits, not what a row measures.
- Anything else (strings, dates, timestamps, binary, nested) is not a feature: naming one is
  an :class:`~dkmeans.errors.InputDataError` that names the column, its type and the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pyarrow as pa

from dkmeans.errors import InputDataError, UserInputError

#: Columns the label writer adds next to the id columns; id columns may not use these names.
RESERVED_OUTPUT_COLUMNS = ("cluster", "distance")

#: pandas stores a non-default index as columns named like this; never a default feature.
PANDAS_INDEX_PREFIX = "__index_level_"


def _value_type(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t


def is_numeric(t: pa.DataType) -> bool:
    """Whether a column of type ``t`` is chosen as a feature by default."""
    t = _value_type(t)
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def is_feature_type(t: pa.DataType) -> bool:
    """Whether a column of type ``t`` may be a feature (numeric, boolean or all-null)."""
    t = _value_type(t)
    return is_numeric(t) or pa.types.is_boolean(t) or pa.types.is_null(t)


def partition_types(partitions: Iterable[tuple[tuple[str, str | None], ...]]) -> dict[str, pa.DataType]:
    """Infer one Arrow type per Hive partition key from every file's raw values.

    Parameters
    ----------
    partitions : iterable of tuple of (key, raw value or None)
        One tuple per file, as :func:`dkmeans.io.listing.hive_partitions` returns.

    Returns
    -------
    dict of str to pyarrow.DataType
        ``int64`` when every non-null value of a key is an integer, else ``string``.
    """
    values: dict[str, list[str]] = {}
    for file_parts in partitions:
        for key, raw in file_parts:
            values.setdefault(key, [])
            if raw is not None:
                values[key].append(raw)
    out = {}
    for key, raws in values.items():
        out[key] = pa.int64() if raws and all(_is_int(r) for r in raws) else pa.string()
    return out


def _is_int(raw: str) -> bool:
    try:
        int(raw)
    except ValueError:
        return False
    return True


def typed_partition_values(
    raw: tuple[tuple[str, str | None], ...], types: dict[str, pa.DataType]
) -> tuple[tuple[str, object], ...]:
    """Convert a file's raw partition values to Python values of the inferred types."""
    return tuple(
        (k, None if v is None else int(v) if pa.types.is_integer(types[k]) else v) for k, v in raw
    )


def columns_of(file_schema: pa.Schema, part_types: dict[str, pa.DataType]) -> dict[str, pa.DataType]:
    """Every column a file offers: its own, then partition keys it does not hold itself."""
    cols = {f.name: f.type for f in file_schema}
    for key, t in part_types.items():
        cols.setdefault(key, t)
    return cols


def _available(cols: dict[str, pa.DataType]) -> str:
    return ", ".join(f"{n} ({t})" for n, t in cols.items()) or "none"


def check_names(value, what: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise UserInputError(
            f"The '{what}' parameter must be a list of column names; got {value!r}."
        )
    names = list(value)
    bad = [n for n in names if not isinstance(n, str) or not n]
    if bad:
        raise UserInputError(f"The '{what}' parameter must hold non-empty strings; got {bad!r}.")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UserInputError(f"The '{what}' parameter names {dupes} more than once.")
    return names


def select_columns(
    cols: dict[str, pa.DataType],
    part_types: dict[str, pa.DataType],
    *,
    features: Sequence[str] | None,
    id_columns: Sequence[str],
    source: str,
) -> tuple[list[str], list[str]]:
    """Decide the feature and id columns from a reference file's columns.

    Parameters
    ----------
    cols : dict of str to pyarrow.DataType
        The reference file's columns (see :func:`columns_of`).
    part_types : dict of str to pyarrow.DataType
        Hive partition keys, never chosen as default features.
    features : sequence of str or None
        Requested features; ``None`` chooses every numeric column but ids and partition keys.
    id_columns : sequence of str
        Columns carried through to the output.
    source : str
        The reference file, for messages.

    Returns
    -------
    feature_names, id_columns : list of str
    """
    ids = check_names(id_columns, "id_columns")
    for name in ids:
        if name not in cols:
            raise InputDataError(
                f"Id column '{name}' is not in {source}; available columns: {_available(cols)}."
            )
        if name in RESERVED_OUTPUT_COLUMNS:
            raise InputDataError(
                f"Id column '{name}' clashes with an output column the label writer adds "
                f"{list(RESERVED_OUTPUT_COLUMNS)}; rename it in the input or drop it from id_columns."
            )
    if features is None:
        names = [
            n for n, t in cols.items()
            if is_numeric(t) and n not in ids and n not in part_types
            and not n.startswith(PANDAS_INDEX_PREFIX)
        ]
        if not names:
            raise InputDataError(
                f"No numeric feature column in {source} besides the id columns {ids}; "
                f"available columns: {_available(cols)}."
            )
        return names, ids
    names = check_names(features, "features")
    if not names:
        raise UserInputError("The 'features' parameter must name at least one column; got [].")
    for name in names:
        check_feature(cols, name, source)
    return names, ids


def check_feature(cols: dict[str, pa.DataType], name: str, source: str) -> None:
    """Raise :class:`InputDataError` unless ``name`` is a usable feature column of ``source``."""
    if name not in cols:
        raise InputDataError(
            f"Feature column '{name}' is not in {source}; available columns: {_available(cols)}."
        )
    if not is_feature_type(cols[name]):
        raise InputDataError(
            f"Feature column '{name}' in {source} has type {cols[name]}; expected a numeric "
            "(integer, float, decimal) or boolean column."
        )


def check_file(
    cols: dict[str, pa.DataType],
    *,
    features: Sequence[str],
    id_columns: Sequence[str],
    filter_columns: Sequence[str],
    source: str,
) -> None:
    """Check one file against the columns chosen from the reference file (schema drift).

    Raises
    ------
    InputDataError
        Naming ``source`` and the column when a feature is missing or not numeric, or an id
        or filter column is missing.
    """
    for name in features:
        if name not in cols:
            raise InputDataError(
                f"Feature column '{name}' is missing from {source} (the files' schemas differ); "
                f"available columns there: {_available(cols)}."
            )
        check_feature(cols, name, source)
    for kind, names in (("Id", id_columns), ("Filter", filter_columns)):
        for name in names:
            if name not in cols:
                raise InputDataError(
                    f"{kind} column '{name}' is missing from {source} (the files' schemas "
                    f"differ); available columns there: {_available(cols)}."
                )
