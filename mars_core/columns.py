"""Row-aligned numpy columns in a frozen dataclass: select rows, concatenate tables, make an empty one.

A table class is a ``@dataclass(frozen=True)`` deriving from ColumnTable whose column fields are declared with
``column(dtype, *width)``; every other field (camera name, stamp, model id) is per-table metadata, copied as is.
An optional column (embeddings, features) may be None; its width may be ``None`` (given to ``empty()``).
The layout is read from ``dataclasses.fields`` once per class and cached: select/concat cost no reflection.
"""
from __future__ import annotations

from dataclasses import MISSING, field, fields
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple, Type, TypeVar

import numpy as np

TableT = TypeVar("TableT", bound="ColumnTable")


class ColumnSpec(NamedTuple):
    """One column of a table: its position among the dataclass fields, dtype, trailing shape, optional."""

    position: int
    name: str
    dtype: np.dtype
    width: Tuple[Optional[int], ...]   # trailing shape; None = the width given to empty()
    optional: bool


class TableLayout(NamedTuple):
    """A table class's fields in order, which of them are columns, and the metadata fields' defaults."""

    names: Tuple[str, ...]
    fields: Tuple[Tuple[str, bool], ...]         # (name, is a column) in field order
    row_column: str                              # the first required column: its length is the row count
    columns: Tuple[ColumnSpec, ...]
    column_positions: Tuple[int, ...]
    meta_defaults: Tuple[Tuple[str, Any], ...]   # (name, default or MISSING) of the non-column fields
    empty_shapes: Tuple[Tuple[int, Tuple[Optional[int], ...], np.dtype, bool], ...]  # (position, shape, ...)


# Per exact class (not inherited by a subclass): a dict lookup, cheaper than reflection on every row operation.
_LAYOUTS: Dict[type, TableLayout] = {}


def column(dtype: Any, *width: Optional[int], optional: bool = False) -> Any:
    """A dataclass field holding one numpy column (rows first); optional columns default to None."""
    metadata = {"column": (np.dtype(dtype), tuple(width), optional)}
    return field(default=None, metadata=metadata) if optional else field(metadata=metadata)


class ColumnTable:
    """Base of frozen dataclasses of row-aligned numpy columns (see the module docstring)."""

    @classmethod
    def layout(cls) -> TableLayout:
        """The cached column layout of this table class."""
        cached = _LAYOUTS.get(cls)
        if cached is not None:
            return cached
        names, columns, meta = [], [], []
        for position, f in enumerate(fields(cls)):  # type: ignore[arg-type]
            names.append(f.name)
            spec = f.metadata.get("column")
            if spec is None:
                default = f.default_factory() if f.default_factory is not MISSING else f.default
                meta.append((f.name, default))
            else:
                columns.append(ColumnSpec(position, f.name, spec[0], spec[1], spec[2]))
        if not columns or columns[0].optional:
            raise TypeError(f"{cls.__name__}: the first column must be a required one (it gives the row count)")
        column_names = {c.name for c in columns}
        layout = TableLayout(tuple(names), tuple((n, n in column_names) for n in names), columns[0].name,
                             tuple(columns), tuple(c.position for c in columns), tuple(meta),
                             tuple((c.position, (0,) + c.width, c.dtype, c.optional) for c in columns))
        _LAYOUTS[cls] = layout
        return layout

    def __len__(self) -> int:
        layout = _LAYOUTS.get(type(self)) or self.layout()
        return int(self.__dict__[layout.row_column].shape[0])

    def select(self: TableT, index: Any) -> TableT:
        """The rows picked by a boolean mask or an index array (metadata kept)."""
        layout = _LAYOUTS.get(type(self)) or self.layout()
        d = self.__dict__
        return type(self)(*[d[n] if not is_column or d[n] is None else d[n][index] for n, is_column in layout.fields])

    @classmethod
    def concat(cls: Type[TableT], parts: Sequence[TableT]) -> TableT:
        """The rows of the parts, in order (metadata of the first part). An optional column is kept only when
        every part has it with one width."""
        if not parts:
            raise ValueError(f"{cls.__name__}.concat needs at least one part")
        layout = cls.layout()
        values: List[Any] = [getattr(parts[0], name) for name in layout.names]
        for c in layout.columns:
            cols = [getattr(p, c.name) for p in parts]
            if c.optional and (any(v is None for v in cols) or len({v.shape[1:] for v in cols}) != 1):
                values[c.position] = None
            else:
                values[c.position] = np.concatenate(cols)
        return cls(*values)

    @classmethod
    def empty(cls: Type[TableT], width: int = 0, **meta: Any) -> TableT:
        """No rows; optional columns are (0, width) arrays when width > 0, else None; metadata from meta or the
        fields' defaults."""
        layout = cls.layout()
        values: List[Any] = [None] * len(layout.names)
        for position, shape, dtype, optional in layout.empty_shapes:
            if optional and width <= 0:
                continue
            values[position] = np.zeros(tuple(width if w is None else w for w in shape), dtype)
        meta_defaults = dict(layout.meta_defaults)
        for name, default in meta_defaults.items():
            value = meta.pop(name, default)
            if value is MISSING:
                raise TypeError(f"{cls.__name__}.empty needs {name}")
            values[layout.names.index(name)] = value
        if meta:
            raise TypeError(f"{cls.__name__}.empty got unknown fields {sorted(meta)}")
        return cls(*values)
