"""``Table``: the W&B table artifacts often hold, stored as ``<name>.table.json``."""

from __future__ import annotations

import json
from typing import Any

from ..errors import InvalidInput
from ..hashing import clean_metadata


class WBValue:
    """The base of the objects W&B logs and stores in artifacts (``wandb.data_types.WBValue``)."""


class Table(WBValue):
    """Columns and rows; equal tables compare equal."""

    _log_type = "table"

    def __init__(self, columns: list[str] | None = None, data: list[list[Any]] | None = None,
                 rows: list[list[Any]] | None = None, dataframe: Any = None, dtype: Any = None,
                 optional: Any = True, allow_mixed_types: bool = False) -> None:
        if dataframe is not None:
            columns = [str(c) for c in dataframe.columns]
            data = dataframe.values.tolist()
        rows = data if data is not None else rows
        if columns is None:
            width = len(rows[0]) if rows else 0
            columns = [f"Column_{i + 1}" for i in range(width)]
        if not all(isinstance(c, str) for c in columns):
            raise InvalidInput("Table columns must be strings")
        self.columns: list[str] = list(columns)
        self.data: list[list[Any]] = []
        for row in rows or []:
            self.add_data(*row)

    def add_data(self, *row: Any) -> None:
        if len(row) != len(self.columns):
            raise InvalidInput(f"row has {len(row)} values but the table has {len(self.columns)} columns")
        self.data.append(list(row))

    def add_column(self, name: str, data: list[Any]) -> None:
        if len(data) != len(self.data):
            raise InvalidInput(f"column {name!r} has {len(data)} values for {len(self.data)} rows")
        self.columns.append(name)
        for row, value in zip(self.data, data):
            row.append(value)

    def get_column(self, name: str, convert_to: str | None = None) -> list[Any]:
        if name not in self.columns:
            raise InvalidInput(f"no column {name!r} in table (columns: {', '.join(self.columns)})")
        i = self.columns.index(name)
        return [row[i] for row in self.data]

    def iterrows(self):
        for i, row in enumerate(self.data):
            yield i, row

    def to_json_bytes(self) -> bytes:
        doc = clean_metadata({"_type": "table", "columns": self.columns, "data": self.data}, "table", max_keys=None)
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json_bytes(cls, data: bytes) -> "Table":
        doc = json.loads(data)
        return cls(columns=doc["columns"], data=doc["data"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Table) and self.columns == other.columns and self.data == other.data

    def __repr__(self) -> str:
        return f"<Table columns={self.columns} rows={len(self.data)}>"
