"""What a sync should deliver: the segment's members, their mapped fields, and who must be left out.

Reads `marts.segment_membership` (plus `marts.dim_customers`, or another marts table keyed by
customer_id, for fields the membership table does not carry), validates the sync against the
warehouse (segment exists, every source column exists), and prepares, inside DuckDB, one temp table
`_sync_desired`: the contacts to deliver, one per email (two customer records sharing an address
become one contact, the smallest customer_id wins), each with its mapped fields as canonical JSON and
a SHA-256 of email + fields. Everything stays in SQL so a segment of a million members is prepared and
diffed (orchestration.syncs.diff) without Python ever holding more than the rows it must send.

Members left out, each for one reason, so the counts add up to the segment's size: without a usable
email; opted out (below); in the holdout (`is_holdout`, when the sync excludes it); sharing their
address with another deliverable member (the address is sent once, for the smallest customer_id).
`_sync_excluded_keys` holds every address that must not be mailed (opted-out addresses anywhere in the
warehouse, plus members left out by `require_opt_in`): delivered contacts among them are taken off the
target in either mode.

Consent: an address is *opted out* if any of these says so, whatever the as-of date of the marts
(an opt-out after a past as-of date still counts):
- the CRM record has `email_opt_in = false` (staging.stg_crm__customers, latest version);
- an `unsubscribe` or `complaint` email event exists for the customer (staging.stg_crm__email_events);
- a provider reported an unsubscribe, a spam complaint or a cleaned (undeliverable, e.g. hard-bounced)
  address (sync_state.provider_unsubscribes, any provider): a cleaned address is not written to again;
- the membership row says the customer is not emailable (marts, as of the as-of date).
An address opted out on one customer record is opted out for every record that shares it.
With `require_opt_in`, members whose `email_opt_in` is not true (unknown) are left out as well.
Opted-out contacts are never sent as upserts, so a sync can't subscribe or re-subscribe them.
If a consent source is missing from the warehouse the sync fails rather than guess.

Field values reach the platforms as JSON scalars: text, numbers (a whole decimal as an integer),
booleans as "true"/"false", dates `YYYY-MM-DD`, timestamps `YYYY-MM-DD HH:MM:SS`, NULL as null.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb

from orchestration.syncs.config import SyncDefinition
from orchestration.syncs.destinations.base import FieldValue
from orchestration.syncs.state import SCHEMA as STATE_SCHEMA

MEMBERSHIP = ("marts", "segment_membership")
CATALOG = ("marts", "segment_catalog")
CUSTOMERS = ("marts", "dim_customers")
CRM_CUSTOMERS = ("staging", "stg_crm__customers")
CRM_EMAIL_EVENTS = ("staging", "stg_crm__email_events")
CONSENT_SOURCES = (CRM_CUSTOMERS, CRM_EMAIL_EVENTS)
OPT_OUT_EVENTS = ("unsubscribe", "complaint")
# `cleaned`: the platform gave up on the address (Mailchimp: hard bounces; Unisender: `blocked`). Never
# mailed again, like an opt-out: writing to such a member only moves its `last_changed` at Mailchimp.
OPT_OUT_KINDS = ("unsubscribed", "complained", "cleaned")
DESIRED = "_sync_desired"
EXCLUDED = "_sync_excluded_keys"


class SyncSourceError(ValueError):
    """The warehouse can't feed this sync (unknown segment, missing column, …); names the sync."""


def marts_read(sync: SyncDefinition) -> list[str]:
    """The marts tables a sync reads: the membership, the customers, then each `table.column` field's
    table, in field order (its Dagster asset's deps, its dbt exposure's refs)."""
    tables = [MEMBERSHIP[1], CUSTOMERS[1]]
    for mapping in sync.fields:
        if mapping.table and mapping.table not in tables:
            tables.append(mapping.table)
    return tables


@dataclass(frozen=True)
class DesiredContact:
    email_key: str
    email: str
    customer_id: str | None
    fields_json: str
    fields_hash: str

    @property
    def fields(self) -> dict[str, FieldValue]:
        return decode_fields(self.fields_json)


@dataclass
class Desired:
    """The segment as this sync sees it; the contacts themselves are in the temp table `_sync_desired`."""

    as_of_date: date | None = None
    members: int = 0  # rows of the segment in marts.segment_membership
    to_deliver: int = 0
    excluded_holdout: int = 0
    excluded_consent: int = 0
    excluded_no_email: int = 0
    # Deliverable members whose address another deliverable member of the segment also has: the
    # address is sent once (for the smallest customer_id), so these members add no contact.
    excluded_shared_email: int = 0


def decode_fields(fields_json: str) -> dict[str, FieldValue]:
    return {key: _scalar(value) for key, value in json.loads(fields_json).items()}


def _scalar(value: Any) -> FieldValue:
    # DuckDB writes decimals as 2500.00: a whole number goes out as an integer, as a person wrote it.
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, bool):  # not produced (booleans are rendered as text), kept for safety
        return "true" if value else "false"
    return value


class Catalog:
    """The warehouse's columns and their types, read once per run (each catalog query costs ~10 ms)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._tables: dict[tuple[str, str], dict[str, str]] = {}
        rows = con.execute(
            "select schema_name, table_name, column_name, data_type from duckdb_columns() "
            "where schema_name in ('marts', 'staging', ?) order by schema_name, table_name, column_index",
            [STATE_SCHEMA],
        ).fetchall()
        for schema, table, column, data_type in rows:
            self._tables.setdefault((schema, table), {})[column] = data_type

    def columns(self, schema: str, table: str) -> dict[str, str]:
        """column → DuckDB type, in table order; {} if the relation does not exist."""
        return self._tables.get((schema, table), {})

    def exists(self, schema: str, table: str) -> bool:
        return (schema, table) in self._tables


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


@dataclass(frozen=True)
class _Field:
    name: str  # destination field
    expression: str  # SQL over the aliases m (membership) and j0, j1… (joined marts tables)
    data_type: str


def _resolve_fields(catalog: Catalog, sync: SyncDefinition) -> tuple[list[_Field], dict[str, str]]:
    """Each mapped field's SQL expression and type, and the marts tables to join (table → alias)."""
    membership = catalog.columns(*MEMBERSHIP)
    joins: dict[str, str] = {}
    resolved = []
    for mapping in sync.fields:
        table, column = mapping.table, mapping.column

        def problem(text: str, mapping: Any = mapping) -> SyncSourceError:
            return SyncSourceError(
                f"sync {sync.name!r}: field {mapping.destination_field} maps {mapping.source!r}, {text}"
            )

        if table is None and column in membership or table == MEMBERSHIP[1]:
            if column not in membership:
                raise problem("which marts.segment_membership does not have")
            resolved.append(_Field(mapping.destination_field, f"m.{_quote(column)}", membership[column]))
            continue
        table = table or CUSTOMERS[1]
        columns = catalog.columns("marts", table)
        if not columns:
            raise problem(f"but the warehouse has no table marts.{table}")
        if "customer_id" not in columns:
            raise problem(f"but marts.{table} has no customer_id column to join on")
        if column not in columns:
            where = (
                "neither marts.segment_membership nor marts.dim_customers has"
                if mapping.table is None
                else f"marts.{table} does not have"
            )
            raise problem(f"which {where} a column {column!r}")
        alias = joins.setdefault(table, f"j{len(joins)}")
        resolved.append(_Field(mapping.destination_field, f"{alias}.{_quote(column)}", columns[column]))
    return resolved, joins


def _json_value(expression: str, data_type: str) -> str:
    """The SQL rendering of one field for the JSON document (see the module docstring)."""
    kind = data_type.upper()
    if kind == "BOOLEAN":
        return f"case when {expression} then 'true' when not {expression} then 'false' end"
    if kind == "DATE":
        return f"strftime({expression}, '%Y-%m-%d')"
    if kind.startswith("TIMESTAMP WITH TIME ZONE") or kind == "TIMESTAMPTZ":
        return f"strftime(timezone('UTC', {expression}), '%Y-%m-%d %H:%M:%S')"
    if kind.startswith("TIMESTAMP"):
        return f"strftime({expression}, '%Y-%m-%d %H:%M:%S')"
    numeric = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER")
    if kind.startswith(("DECIMAL", "DOUBLE", "FLOAT", "REAL", "UBIGINT")) or kind in numeric:
        return expression
    if kind == "VARCHAR":
        return expression
    return f"cast({expression} as varchar)"


def validate_against_warehouse(
    con: duckdb.DuckDBPyConnection, sync: SyncDefinition, catalog: Catalog | None = None
) -> None:
    """Raises SyncSourceError naming the sync if the warehouse can't feed it."""
    catalog = catalog or Catalog(con)
    membership = catalog.columns(*MEMBERSHIP)
    if not membership:
        raise SyncSourceError(
            f"sync {sync.name!r}: marts.segment_membership does not exist yet; build the segments first"
        )
    missing = sorted({"segment_key", "customer_id", "email", "is_holdout", "as_of_date"} - set(membership))
    if missing:
        raise SyncSourceError(f"sync {sync.name!r}: marts.segment_membership lacks {', '.join(missing)}")
    if catalog.exists(*CATALOG):
        known = con.execute(
            "select count(*) from marts.segment_catalog where segment_key = ?", [sync.segment]
        ).fetchall()
        if not known[0][0]:
            raise SyncSourceError(
                f"sync {sync.name!r}: segment {sync.segment!r} is not in the segment catalogue"
            )
    for schema, table in CONSENT_SOURCES:
        if not catalog.exists(schema, table):
            raise SyncSourceError(
                f"sync {sync.name!r}: consent facts unavailable ({schema}.{table} does not exist); "
                "refusing to sync without them"
            )
    _resolve_fields(catalog, sync)


def opted_out_sql(has_provider_table: bool) -> str:
    """Email keys that must not be mailed, one row per reason (see the module docstring)."""
    events = ", ".join(f"'{event}'" for event in OPT_OUT_EVENTS)
    kinds = ", ".join(f"'{kind}'" for kind in OPT_OUT_KINDS)
    parts = [
        "select lower(trim(email)) as email_key from staging.stg_crm__customers "
        "where email_opt_in = false and email is not null",
        "select lower(trim(c.email)) as email_key "
        "from staging.stg_crm__email_events as e inner join staging.stg_crm__customers as c "
        f"on e.customer_id = c.customer_id where e.event_type in ({events}) and c.email is not null",
    ]
    if has_provider_table:
        parts.append(f"select email_key from {STATE_SCHEMA}.provider_unsubscribes where kind in ({kinds})")
    return " union all ".join(parts)


def prepare_desired(
    con: duckdb.DuckDBPyConnection, sync: SyncDefinition, catalog: Catalog | None = None
) -> Desired:
    """Validates the sync, fills the temp tables `_sync_desired` and `_sync_excluded_keys`, counts."""
    catalog = catalog or Catalog(con)
    validate_against_warehouse(con, sync, catalog)
    fields, joins = _resolve_fields(catalog, sync)
    membership = catalog.columns(*MEMBERSHIP)
    emailable = "m.is_emailable" if "is_emailable" in membership else "true"
    has_provider_table = catalog.exists(STATE_SCHEMA, "provider_unsubscribes")
    join_sql = "".join(
        f" left join marts.{_quote(table)} as {alias} on {alias}.customer_id = m.customer_id"
        for table, alias in joins.items()
    )
    ordered = sorted(fields, key=lambda f: f.name)  # canonical JSON: keys in one order, always
    if ordered:
        pairs = ", ".join(f"{_quote(f.name)} := {_json_value(f.expression, f.data_type)}" for f in ordered)
        fields_json = f"cast(to_json(struct_pack({pairs})) as varchar)"
    else:
        fields_json = "'{}'"
    con.execute(
        f"create or replace temp table _sync_opted_out as select distinct email_key "
        f"from ({opted_out_sql(has_provider_table)}) where email_key is not null"
    )
    con.execute(
        f"""
        create or replace temp table _sync_members as
        with members as (
            select
                m.customer_id,
                trim(m.email) as email,
                lower(trim(m.email)) as email_key,
                m.as_of_date,
                coalesce(m.is_holdout, false) as is_holdout,
                coalesce({emailable}, false) as is_emailable,
                coalesce(c.email_opt_in, false) as has_opted_in,
                {fields_json} as fields_json
            from marts.segment_membership as m
            left join (
                select customer_id, bool_and(email_opt_in) as email_opt_in
                from staging.stg_crm__customers group by customer_id
            ) as c on c.customer_id = m.customer_id
            {join_sql}
            where m.segment_key = ?
        ),
        classified as (
            select
                *,
                case
                    when email is null or strpos(email, '@') = 0 then 'no_email'
                    when email_key in (select email_key from _sync_opted_out)
                        or not is_emailable
                        or (? and not has_opted_in) then 'consent'
                    when ? and is_holdout then 'holdout'
                    else 'deliver'
                end as outcome
            from members
        )
        select
            * exclude (outcome),
            -- An address opted out on any record is opted out on all of them.
            case
                when outcome = 'deliver' and email_key in (
                    select email_key from classified where outcome = 'consent'
                ) then 'consent'
                else outcome
            end as outcome
        from classified
        """,
        [sync.segment, sync.require_opt_in, sync.exclude_holdout],
    )
    con.execute(
        f"""
        create or replace temp table {DESIRED} as
        select
            email_key, email, customer_id, fields_json, sha256(email || chr(10) || fields_json) as fields_hash
        from _sync_members
        where outcome = 'deliver'
        qualify row_number() over (partition by email_key order by customer_id) = 1
        """
    )
    con.execute(
        f"create or replace temp table {EXCLUDED} as select email_key from _sync_opted_out "
        "union select email_key from _sync_members where outcome = 'consent' and email_key is not null"
    )
    row = con.execute(
        f"""
        select
            max(as_of_date),
            count(*),
            (select count(*) from {DESIRED}),
            count(*) filter (where outcome = 'holdout'),
            count(*) filter (where outcome = 'consent'),
            count(*) filter (where outcome = 'no_email'),
            count(*) filter (where outcome = 'deliver') - (select count(*) from {DESIRED})
        from _sync_members
        """
    ).fetchall()[0]
    return Desired(*row)


def desired_contacts(con: duckdb.DuckDBPyConnection) -> list[DesiredContact]:
    """Every contact of `_sync_desired` (for tests and small segments), in email order."""
    rows = con.execute(
        f"select email_key, email, customer_id, fields_json, fields_hash from {DESIRED} order by email_key"
    ).fetchall()
    return [DesiredContact(*row) for row in rows]
