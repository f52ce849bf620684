"""Appending text tables to CSV or Parquet files, one chunk at a time.

Every column is text, dirty values included, so both formats carry exactly the same values. The CSV
is RFC 4180 with quotes only where a value needs them (a comma, a quote, a line break, or leading or
trailing spaces that a reader might otherwise trim); an empty field is a missing value.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from orchestration.sample_data.config import OutputFormat

NEEDS_QUOTES = r'[",\r\n]|^\s|\s$'


def text_schema(columns: tuple[str, ...]) -> pa.Schema:
    return pa.schema([pa.field(name, pa.string()) for name in columns])


class TableWriter:
    """Writes to `<name>.tmp` and renames on a clean close, so a failed run leaves no half file behind."""

    def __init__(self, path: Path, columns: tuple[str, ...], output_format: OutputFormat) -> None:
        self.path = path
        self.rows = 0
        self._schema = text_schema(columns)
        self._format = output_format
        self._partial = path.with_name(path.name + ".tmp")
        self._parquet: pq.ParquetWriter | None = None
        self._csv: BinaryIO | None = None
        if output_format == "parquet":
            self._parquet = pq.ParquetWriter(self._partial, self._schema, compression="zstd")
        else:
            self._csv = open(self._partial, "wb")  # noqa: SIM115 - closed in close()
            self._csv.write((",".join(columns) + "\n").encode())

    def write(self, table: pa.Table) -> None:
        table = table.select(self._schema.names).cast(self._schema)
        if not len(table):
            return
        self.rows += len(table)
        if self._parquet is not None:
            self._parquet.write_table(table)
        elif self._csv is not None:
            self._csv.write(csv_bytes(table))

    def close(self, success: bool = True) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._csv is not None:
            self._csv.close()
        if success:
            os.replace(self._partial, self.path)
        else:
            self._partial.unlink(missing_ok=True)

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close(success=kind is None)


def csv_bytes(table: pa.Table) -> bytes:
    """The table's rows as CSV lines, built column-wise by Arrow compute instead of row by row."""
    fields = [_csv_field(table.column(name).combine_chunks()) for name in table.column_names]
    lines = pc.binary_join_element_wise(*fields, ",") if len(fields) > 1 else fields[0]
    lines = pc.binary_join_element_wise(lines, "", "\n").cast(pa.large_string())
    # A string array without nulls stores its values back to back: that buffer is the file text.
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset : lines.offset + len(lines) + 1]
    return lines.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]]


def _csv_field(values: pa.Array) -> pa.Array:
    values = pc.fill_null(values, "")
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(values, '"', '""'), '"', "")
    return pc.if_else(pc.match_substring_regex(values, NEEDS_QUOTES), quoted, values)
