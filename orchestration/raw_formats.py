"""Real exports' formats, for the landing: `_format.yml`, encodings, dialects, .xlsx, numbers, dates.

Russian shops and CRMs export `;`-separated Windows-1251 CSVs with decimal commas, `1 234,50`-style
thousands and `01/02/2024` dates, or .xlsx workbooks. The landing (orchestration/landing.py) reads
them through this module:

- `load_formats` reads and validates the optional `_format.yml` beside the raw files;
- `detect_encoding` / `transcode_to_utf8` turn an unambiguous Windows-1251 file into UTF-8 for DuckDB;
- `xlsx_header` / `xlsx_to_parquet` read a workbook's sheet as text;
- `number_rewrites` / `rewrite_slashed_dates` turn numbers and slashed dates into the canonical text
  staging parses, in SQL, and only for the columns of a file that need it.

Whatever cannot be told apart is refused with a `RawDataError` that names the file and the
`_format.yml` setting that settles it.
"""

from __future__ import annotations

import codecs
import datetime as dt
import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import duckdb
import yaml

FORMAT_FILE = "_format.yml"
# Leading bytes looked at to tell UTF-8 from Windows-1251.
_SAMPLE_BYTES = 1 << 20
_TRANSCODE_CHUNK = 1 << 22

_DELIMITERS = {",": ",", ";": ";", "tab": "\t", "\t": "\t", "|": "|"}
_ENCODINGS = {"utf-8": "utf-8", "utf8": "utf-8", "cp1251": "cp1251", "windows-1251": "cp1251"}
_DECIMALS = (".", ",")
_DATE_ORDERS = ("dmy", "mdy")
_KEYS = ("delimiter", "encoding", "decimal", "date_order", "sheet", "columns")


class RawDataError(ValueError):
    """The raw folder breaks the contract; the message names the file and what is wrong."""


@dataclass(frozen=True)
class TableFormat:
    """One table's entry in `_format.yml`; None means "detect it"."""

    delimiter: str | None = None
    encoding: str | None = None
    decimal: str | None = None
    date_order: str | None = None
    sheet: str | None = None
    # contract column -> header as the file spells it
    columns: tuple[tuple[str, str], ...] = field(default=())

    @property
    def column_map(self) -> dict[str, str]:
        return dict(self.columns)

    def fingerprint_text(self) -> str:
        """Goes into each file's fingerprint: another declaration lands the table again. Empty if none."""
        if self == TableFormat():
            return ""
        return json.dumps(
            {
                "delimiter": self.delimiter,
                "encoding": self.encoding,
                "decimal": self.decimal,
                "date_order": self.date_order,
                "sheet": self.sheet,
                "columns": self.columns,
            },
            ensure_ascii=False,
            sort_keys=True,
        )


def load_formats(raw_dir: Path, tables: dict[str, tuple[str, ...]]) -> dict[str, TableFormat]:
    """Reads `<raw_dir>/_format.yml` (table -> contract columns in `tables`); no file, no settings."""
    path = raw_dir / FORMAT_FILE
    if not path.is_file():
        return {}
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise RawDataError(f"{FORMAT_FILE}: not valid UTF-8 YAML: {error}") from error
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise RawDataError(f"{FORMAT_FILE}: expected a mapping of table name to settings")
    formats = {}
    for table, entry in document.items():
        if table not in tables:
            raise RawDataError(f"{FORMAT_FILE}: unknown table {table!r} (tables: {', '.join(tables)})")
        formats[table] = _table_format(str(table), entry, tables[table])
    return formats


def _table_format(table: str, entry: object, columns: tuple[str, ...]) -> TableFormat:
    where = f"{FORMAT_FILE}: {table}"
    if entry is None:
        return TableFormat()
    if not isinstance(entry, dict):
        raise RawDataError(f"{where}: expected settings ({', '.join(_KEYS)})")
    unknown = [str(key) for key in entry if key not in _KEYS]
    if unknown:
        raise RawDataError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(_KEYS)})")

    def choice(key: str, allowed: dict[str, str] | tuple[str, ...]) -> str | None:
        value = entry.get(key)
        if value is None:
            return None
        options = allowed if isinstance(allowed, dict) else {a: a for a in allowed}
        normalised = value.lower() if isinstance(value, str) and value not in ("\t",) else value
        if not isinstance(normalised, str) or normalised not in options:
            shown = ", ".join(repr(option) for option in options if option != "\t")
            raise RawDataError(f"{where}.{key}: {value!r} is not one of {shown}")
        return options[normalised]

    sheet = entry.get("sheet")
    if sheet is not None and (not isinstance(sheet, str | int) or isinstance(sheet, bool) or sheet == ""):
        raise RawDataError(f"{where}.sheet: {sheet!r} is not a sheet name")
    mapping = entry.get("columns") or {}
    if not isinstance(mapping, dict):
        raise RawDataError(f"{where}.columns: expected contract column: header as the file spells it")
    headers: dict[str, str] = {}
    for column, header in mapping.items():
        if column not in columns:
            raise RawDataError(
                f"{where}.columns: {column!r} is not a column of {table} (columns: {', '.join(columns)})"
            )
        if not isinstance(header, str | int) or isinstance(header, bool) or str(header).strip() == "":
            raise RawDataError(f"{where}.columns.{column}: {header!r} is not a header")
        key = normalise_header(str(header))
        if key in headers:
            raise RawDataError(
                f"{where}.columns: header {header!r} is mapped to both {headers[key]} and {column}"
            )
        headers[key] = column
    return TableFormat(
        delimiter=choice("delimiter", _DELIMITERS),
        encoding=choice("encoding", _ENCODINGS),
        decimal=choice("decimal", _DECIMALS),
        date_order=choice("date_order", _DATE_ORDERS),
        sheet=None if sheet is None else str(sheet),
        columns=tuple((str(column), str(header)) for column, header in mapping.items()),
    )


def trimmed_header(name: str) -> str:
    """A file's header without surrounding spaces or a BOM: as messages show it."""
    return name.strip().lstrip("\ufeff").strip()


def normalise_header(name: str) -> str:
    """How a file's header is matched: trimmed (a BOM too), case-insensitive."""
    return trimmed_header(name).lower()


# --- encodings ---------------------------------------------------------------------------------------

# Besides Cyrillic letters, the non-ASCII characters a Windows-1251 export of Russian text has.
_CP1251_PUNCTUATION = frozenset("«»№—–…“”„‘’•°±\u00a0€")
_CYRILLIC = re.compile(r"[А-яЁё]")
_MIXED_SCRIPT = re.compile(r"[A-Za-z][А-яЁё]|[А-яЁё][A-Za-z]")


def _open_binary(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")


def _utf8_prefix_ok(chunk: bytes) -> bool:
    """Whether `chunk` is UTF-8, allowing a character cut at its end."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(chunk, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _cp1251_doubt(sample: bytes) -> str | None:
    """Why `sample` (not UTF-8) is not clearly Windows-1251 Russian text, or None if it is."""
    try:
        text = sample.decode("cp1251")
    except UnicodeDecodeError as error:
        return f"byte 0x{sample[error.start]:02x} is not Windows-1251"
    odd = sorted(
        {c for c in text if ord(c) > 127 and not _CYRILLIC.match(c) and c not in _CP1251_PUNCTUATION}
    )
    if odd:
        return f"as Windows-1251 it would hold {''.join(odd[:10])!r}, which Russian text does not"
    mixed = _MIXED_SCRIPT.search(text)
    if mixed:
        start = max(0, mixed.start() - 10)
        word = text[start : mixed.end() + 10]
        return f"as Windows-1251 it would mix Latin and Cyrillic letters in one word ({word!r})"
    letters = _CYRILLIC.findall(text)
    upper = sum(1 for letter in letters if letter.isupper())
    # KOI8-R read as Windows-1251 swaps the cases: mostly capitals.
    if len(letters) >= 20 and upper > 0.6 * len(letters):
        return "as Windows-1251 it would be mostly capital letters (KOI8-R?)"
    if not letters:
        return "it holds no Cyrillic text as Windows-1251"
    return None


def detect_encoding(path: Path, display: str) -> str:
    """'utf-8' or 'cp1251' from the leading bytes; undecidable files are refused."""
    with _open_binary(path) as handle:
        sample = handle.read(_SAMPLE_BYTES)
    if _utf8_prefix_ok(sample):
        return "utf-8"
    return _decide_cp1251(display, sample)


def _decide_cp1251(display: str, sample: bytes) -> str:
    doubt = _cp1251_doubt(sample)
    if doubt is not None:
        raise RawDataError(
            f"{display}: not UTF-8, and not clearly Windows-1251 ({doubt}); "
            f"declare it in {FORMAT_FILE} with `encoding: utf-8` or `encoding: cp1251`, or re-export as UTF-8"
        )
    return "cp1251"


def detect_encoding_whole(path: Path, display: str) -> str:
    """After DuckDB found invalid UTF-8 past the leading bytes: scan the whole file and decide."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    seen_non_ascii = False
    with _open_binary(path) as handle:
        while chunk := handle.read(_TRANSCODE_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                if seen_non_ascii or not chunk[: error.start].isascii():
                    raise RawDataError(
                        f"{display}: UTF-8 text up to byte {offset + error.start}, then something else; "
                        f"mixed encodings cannot be landed: re-export the file in one encoding"
                    ) from error
                return _decide_cp1251(display, chunk[error.start :] + handle.read(_SAMPLE_BYTES))
            seen_non_ascii = seen_non_ascii or not chunk.isascii()
            offset += len(chunk)
    return "utf-8"


def transcode_to_utf8(path: Path, encoding: str, target: Path) -> None:
    """Streams `path` (maybe gzipped) from `encoding` into a UTF-8 file at `target`."""
    with _open_binary(path) as source, target.open("wb") as sink:
        decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        while chunk := source.read(_TRANSCODE_CHUNK):
            sink.write(decoder.decode(chunk).encode("utf-8"))
        sink.write(decoder.decode(b"", final=True).encode("utf-8"))


def transcode_head(path: Path, encoding: str, target: Path) -> None:
    """The leading lines only, for reading the header without transcoding the whole file."""
    with _open_binary(path) as source:
        text = source.read(_SAMPLE_BYTES).decode(encoding, errors="ignore")
    cut = text.rfind("\n")
    target.write_text(text[: cut + 1] if cut > 0 else text, encoding="utf-8")


def is_invalid_utf8_error(error: duckdb.Error) -> bool:
    message = str(error).lower()
    return "invalid unicode" in message or "not utf-8 encoded" in message


# --- .xlsx -------------------------------------------------------------------------------------------


def _sheet(path: Path, display: str, sheet: str | None) -> Any:
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError, ValueError) as error:
        raise RawDataError(f"{display}: cannot be read as an .xlsx workbook: {error}") from error
    if sheet is None:
        if not workbook.sheet_names:
            raise RawDataError(f"{display}: the workbook has no sheets")
        return workbook.get_sheet_by_index(0)
    if sheet not in workbook.sheet_names:
        raise RawDataError(
            f"{display}: no sheet {sheet!r} (sheets: {', '.join(workbook.sheet_names)}); "
            f"set `sheet` in {FORMAT_FILE}"
        )
    return workbook.get_sheet_by_name(sheet)


def cell_text(value: object) -> str | None:
    """An .xlsx cell as the text a CSV export would hold; empty cells are None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        text = repr(value)
        return format(Decimal(text), "f") if "e" in text else text
    if isinstance(value, dt.datetime):
        rounded = (value + dt.timedelta(microseconds=500_000)).replace(microsecond=0)
        return rounded.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.replace(microsecond=0).isoformat()
    return str(value)


def _header(row: list[object]) -> list[str]:
    return [cell_text(value) or f"column{index}" for index, value in enumerate(row)]


def _rows(sheet: Any) -> Iterator[list[object]]:
    yield from sheet.iter_rows()


def xlsx_header(path: Path, display: str, sheet: str | None) -> list[str]:
    for row in _rows(_sheet(path, display, sheet)):
        return _header(row)
    raise RawDataError(f"{display}: the sheet is empty (no header row)")


def xlsx_to_parquet(path: Path, display: str, sheet: str | None, target: Path) -> None:
    """The sheet as a Parquet file of text columns: header row → names, one row per non-empty row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _rows(_sheet(path, display, sheet))
    header = next(rows, None)
    if header is None:
        raise RawDataError(f"{display}: the sheet is empty (no header row)")
    names = _header(header)
    columns: list[list[str | None]] = [[] for _ in names]
    for row in rows:
        texts = [cell_text(value) for value in row[: len(names)]]
        if all(text is None for text in texts):
            continue  # blank rows, as a CSV's blank lines
        texts += [None] * (len(names) - len(texts))
        for column, text in zip(columns, texts, strict=True):
            column.append(text)
    table = pa.table(
        {name: pa.array(values, pa.string()) for name, values in zip(names, columns, strict=True)}
    )
    pq.write_table(table, target)


# --- numbers and dates -------------------------------------------------------------------------------

_SPACES = "[ \\x{00A0}\\x{202F}]"
_COMMA_SINGLE = r"-?\d*,\d+"
_DOT_SINGLE_OR_INT = r"-?\d*\.?\d+"
_AMBIGUOUS_COMMA = r"-?[1-9]\d{0,2},\d{3}"
_AMBIGUOUS_DOT = r"-?[1-9]\d{0,2}\.\d{3}"
_AMBIGUOUS = f"{_AMBIGUOUS_COMMA}|{_AMBIGUOUS_DOT}"
_SPACED = rf"-?\d{{1,3}}({_SPACES}\d{{3}})+([.,]\d+)?"
_COMMA_THOUSANDS = r"-?[1-9]\d{0,2}(,\d{3})+(\.\d+)?"
_DOT_THOUSANDS = r"-?[1-9]\d{0,2}(\.\d{3})+(,\d+)?"
# Forms that tell the decimal separator on their own.
_SAYS_COMMA = "|".join(
    (
        r"-?\d*,\d+",
        rf"-?\d{{1,3}}({_SPACES}\d{{3}})+,\d+",
        r"-?[1-9]\d{0,2}(\.\d{3})+,\d+",
        r"-?[1-9]\d{0,2}(\.\d{3}){2,}",
    )
)
_SAYS_DOT = "|".join(
    (
        r"-?\d*\.\d+",
        rf"-?\d{{1,3}}({_SPACES}\d{{3}})+\.\d+",
        r"-?[1-9]\d{0,2}(,\d{3})+\.\d+",
        r"-?[1-9]\d{0,2}(,\d{3}){2,}",
    )
)
_SLASHED = r"\d{1,2}/\d{1,2}/\d{4}([ T]\d{1,2}:\d{2}(:\d{2})?)?"
_COMMA, _DOT, _SLASH = "','", "'.'", "'/'"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _matches(value: str, pattern: str) -> str:
    return f"regexp_full_match({value}, {_literal(pattern)})"


def _only_if(cheap: str, condition: str) -> str:
    """SQL: `cheap and condition`, with `condition` evaluated only on the rows where `cheap` holds.

    Inside an aggregate's FILTER, DuckDB evaluates both sides of an `and` on every row; a `case`
    evaluates its branch only on the rows that reach it (DECISIONS.md, "Export formats").
    """
    return f"case when {cheap} then {condition} else false end"


def number_sql(column: str, decimal: str | None) -> str:
    """`column` (text) as canonical dot-decimal text where it is a number in any form, else as it is."""
    v = f"trim({column})"
    if decimal == ",":
        ambiguous_comma, ambiguous_dot = f"replace({v}, ',', '.')", f"replace({v}, '.', '')"
    else:
        ambiguous_comma, ambiguous_dot = f"replace({v}, ',', '')", column
    no_spaces = f"replace(replace(replace({v}, ' ', ''), chr(160), ''), chr(8239), '')"
    # Most values of most files are plain: they skip the regular expressions.
    plain = _plain_number(column, decimal)
    return (
        f"case when {plain} then {column} "
        f"when {_matches(v, _COMMA_SINGLE)} then "
        f"case when {_matches(v, _AMBIGUOUS_COMMA)} then {ambiguous_comma} else replace({v}, ',', '.') end "
        f"when {_matches(v, _DOT_SINGLE_OR_INT)} then "
        + (
            f"case when {_matches(v, _AMBIGUOUS_DOT)} then {ambiguous_dot} else {column} end "
            if decimal == ","
            else f"{column} "
        )
        + f"when {_matches(v, _SPACED)} then replace({no_spaces}, ',', '.') "
        f"when {_matches(v, _COMMA_THOUSANDS)} then replace({v}, ',', '') "
        f"when {_matches(v, _DOT_THOUSANDS)} then replace(replace({v}, '.', ''), ',', '.') "
        f"else {column} end"
    )


def _plain_number(column: str, decimal: str | None) -> str:
    """SQL: `column` has no comma, no space of any kind, at most one dot, and no dot at all where the
    decimal is a comma: a number (or no number) that needs no rewriting."""
    signs = [f"contains({column}, {_literal(sign)})" for sign in (",", " ", "\u00a0", "\u202f")]
    signs.append(f"{column} like '%.%' " if decimal == "," else f"{column} like '%.%.%'")
    return f"not ({' or '.join(signs)})"


def date_sql(column: str, order: str) -> str:
    """`column` (text) as ISO text where it is a valid slashed date in `order`, else as it is."""
    v = f"trim({column})"
    day_month = "%d/%m/%Y" if order == "dmy" else "%m/%d/%Y"
    formats = f"[{_literal(day_month + ' %H:%M:%S')}, {_literal(day_month + ' %H:%M')}]"
    with_time = f"try_strptime(replace({v}, 'T', ' '), {formats})"
    return (
        f"case when contains({column}, '/') and {_matches(v, _SLASHED)} "
        f"then coalesce(case when {v} like '%:%' "
        f"then strftime({with_time}, '%Y-%m-%d %H:%M:%S') "
        f"else strftime(try_strptime({v}, {_literal(day_month)}), '%Y-%m-%d') end, {column}) "
        f"else {column} end"
    )


@dataclass(frozen=True)
class _Example:
    column: str
    value: str
    row: int


@dataclass(frozen=True)
class FileRows:
    """One file's rows in a table (the landing's buffer, or the raw table), as inference queries them."""

    con: duckdb.DuckDBPyConnection
    table: str
    # SQL: selects the file's rows in `table`
    where: str
    # SQL: a row's number in the file, from 1
    row_number: str
    # the file as messages name it
    display: str
    # contract column -> its text in `table` (SQL)
    text: dict[str, str]

    def counts(self, aggregates: list[str], where: str) -> tuple[int, ...]:
        query = f"select {', '.join(aggregates)} from {self.table} where {self.where} and ({where})"
        return self.con.execute(query).fetchone()

    def any_value(self, conditions: list[str]) -> bool:
        """Whether any row meets one of `conditions`; stops at the first that does."""
        query = f"select 1 from {self.table} where {self.where} and ({' or '.join(conditions)}) limit 1"
        return self.con.execute(query).fetchone() is not None

    def first_example(self, columns: list[str], pattern: str) -> _Example | None:
        """The first value of `columns` (in that order) that matches `pattern`, with its row."""
        for column in columns:
            text = self.text[column]
            found = self.con.execute(
                f"select {text}, {self.row_number} as row_number from {self.table} where {self.where} "
                f"and {_matches(f'trim({text})', pattern)} order by row_number limit 1"
            ).fetchone()
            if found:
                return _Example(column, found[0], found[1])
        return None


def number_rewrites(rows: FileRows, columns: list[str], table_format: TableFormat) -> dict[str, str]:
    """SQL rewrites (contract column -> expression over `rows.table`) of the number `columns` that
    hold decimal commas or thousands separators; the other columns need none.

    One scan finds those columns and counts what tells the decimal separator. Values that cast to a
    number and do not end in a dot and three digits are left out before anything else looks at them.
    """
    aggregates: list[str] = []
    telling: list[str] = []
    for column in columns:
        c = rows.text[column]
        aggregates += [f"count(*) filter (where not {_plain_number(c, table_format.decimal)})"]
        aggregates += _separator_evidence(c)
        # Every value the counts count is either not a number as it is, or ends in a dot and three digits.
        telling += [f"(try_cast({c} as double) is null and {c} is not null)", f"{c} like '%.___'"]
    if not aggregates:
        return {}
    counts = rows.counts(aggregates, where=" or ".join(telling))
    per_column = {column: counts[4 * i : 4 * i + 4] for i, column in enumerate(columns)}
    flagged = [column for column in columns if per_column[column][0]]
    if not flagged:
        return {}
    evidence = {column: per_column[column][1:] for column in columns}
    decimal, also = _decimal_separator(rows, evidence, table_format)
    return {column: number_sql(rows.text[column], decimal) for column in dict.fromkeys(flagged + also)}


def rewrite_slashed_dates(rows: FileRows, columns: list[str], table_format: TableFormat) -> list[str]:
    """Rewrites in place, in `rows.table`, the slashed dates of the date `columns` as ISO text;
    returns the columns that had any.

    Slashed dates are rare, so they are looked for after the file is in its raw table, whose scan
    is cheaper than the buffer's, and only the values that have a slash are updated.
    """
    slashed = {column: f"contains({rows.text[column]}, {_SLASH})" for column in columns}
    if not slashed:
        return []
    counts = rows.counts(
        [f"count(*) filter (where {condition})" for condition in slashed.values()],
        where=" or ".join(slashed.values()),
    )
    flagged = [column for column, count in zip(columns, counts, strict=True) if count]
    if not flagged:
        return []
    order = _date_order(rows, flagged, table_format)
    assignments = ", ".join(f"{column} = {date_sql(rows.text[column], order)}" for column in flagged)
    needs = " or ".join(slashed[column] for column in flagged)
    rows.con.execute(f"update {rows.table} set {assignments} where {rows.where} and ({needs})")
    return flagged


def _separator_evidence(c: str) -> list[str]:
    """Aggregates over `c`: values that may be a thousand or a decimal (`1,234`, `1.234`), those of
    them with a dot, and values that say "decimal comma" on their own."""
    v = f"trim({c})"
    # Cheap tests first: the regular expressions run only on the rows that pass them.
    ends_in_three = (
        f"((contains({c}, {_COMMA}) or contains({c}, {_DOT})) and ({v} like '%,___' or {v} like '%.___'))"
    )
    may_be_either = _matches(v, _AMBIGUOUS)
    says_comma = f"{_matches(v, _SAYS_COMMA)} and not {_matches(v, _AMBIGUOUS_COMMA)}"
    return [
        f"count(*) filter (where {_only_if(ends_in_three, may_be_either)})",
        f"count(*) filter (where {_only_if(f'contains({c}, {_DOT})', _matches(v, _AMBIGUOUS_DOT))})",
        f"count(*) filter (where {_only_if(f'contains({c}, {_COMMA})', says_comma)})",
    ]


def _decimal_separator(
    source: FileRows, evidence: dict[str, tuple[int, ...]], table_format: TableFormat
) -> tuple[str | None, list[str]]:
    """The file's decimal separator (declared, inferred, or None if no value needs it), and the
    unflagged columns that must be converted with it too (ambiguous `1.234` when it is a comma).

    `evidence` holds each number column's counts from `_separator_evidence`."""
    columns = list(evidence)
    with_ambiguous = [column for column in columns if evidence[column][0]]
    decimal = table_format.decimal
    if decimal is None:
        says_comma = sum(counts[2] for counts in evidence.values())
        # Whether any value says "decimal point": asked only when a value may be either (otherwise
        # every value converts the same either way), and it stops at the first such value.
        says_dot = bool(with_ambiguous) and source.any_value(
            [
                f"contains({source.text[column]}, '.') "
                f"and {_matches(f'trim({source.text[column]})', _SAYS_DOT)} "
                f"and not {_matches(f'trim({source.text[column]})', _AMBIGUOUS_DOT)}"
                for column in columns
            ]
        )
        if says_comma and not says_dot:
            decimal = ","
        elif says_dot and not says_comma:
            decimal = "."
        elif with_ambiguous:
            example = source.first_example(with_ambiguous, _AMBIGUOUS)
            assert example is not None
            reason = (
                "its other values use both a decimal comma and a decimal point"
                if says_comma and says_dot
                else "no value shows which separator is the decimal one"
            )
            raise RawDataError(
                f"{source.display}: column {example.column}: {example.value!r} (row {example.row}) may be "
                f"a thousand or a decimal, and {reason}; declare the decimal separator in {FORMAT_FILE} "
                f'(`decimal: ","` or `decimal: "."`)'
            )
    also = [column for column in columns if evidence[column][1]] if decimal == "," else []
    return decimal, also


def _date_order(source: FileRows, columns: list[str], table_format: TableFormat) -> str:
    if table_format.date_order is not None:
        return table_format.date_order
    stats = []
    for column in columns:
        v = f"trim({source.text[column]})"
        slashed = f"contains({source.text[column]}, '/') and {_matches(v, _SLASHED)}"
        for part in (1, 2):
            says = f"try_cast(split_part({v}, {_SLASH}, {part}) as int) > 12"
            stats.append(f"count(*) filter (where {_only_if(slashed, says)})")
    slashed_any = " or ".join(f"contains({source.text[column]}, {_SLASH})" for column in columns)
    counts = source.counts(stats, where=slashed_any)
    says_dmy, says_mdy = sum(counts[0::2]), sum(counts[1::2])
    if says_dmy and not says_mdy:
        return "dmy"
    if says_mdy and not says_dmy:
        return "mdy"
    if says_dmy and says_mdy:
        dmy = source.first_example(columns, r"(1[3-9]|[2-9]\d|3[01])/.*")
        mdy = source.first_example(columns, r"\d{1,2}/(1[3-9]|[2-9]\d|3[01])/.*")
        assert dmy is not None and mdy is not None
        reason = (
            f"{dmy.column} {dmy.value!r} (row {dmy.row}) is day-first but "
            f"{mdy.column} {mdy.value!r} (row {mdy.row}) is month-first"
        )
    else:
        example = source.first_example(columns, _SLASHED)
        if example is None:  # slashes, but no slashed date: nothing to convert
            return "dmy"
        reason = f"no date tells the order, e.g. {example.column} {example.value!r} (row {example.row})"
    raise RawDataError(
        f"{source.display}: slashed dates are ambiguous: {reason}; declare `date_order: dmy` or "
        f"`date_order: mdy` in {FORMAT_FILE}"
    )
