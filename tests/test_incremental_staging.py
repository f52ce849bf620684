"""Incremental landing and staging (issue 7): a sequence of nightly runs, each landing only what is
new and restaging only what it touches, leaves the same staged rows as one full build of the same
files; a file landed again makes staging start over. The facts kept incrementally from the staged
rows (int_email_first_events per email, audit.quarantined_rows) stay the same as a full build
too."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.dbt_runner import run_dbt
from orchestration.duckdb_profile import connect_warehouse
from orchestration.landing import land_raw_files
from orchestration.settings import Settings
from tests.conftest import TINY_AS_OF, TINY_RAW_DIR

# Whole pipeline runs, Dagster jobs or `make` processes: `make test-fast` skips them.
pytestmark = pytest.mark.slow

BASE_MODELS = ("base_crm__orders", "base_crm__order_items", "base_crm__email_events")
EMAIL_FACT = "int_email_first_events"
QUARANTINE = "quarantined_rows"
# Bookkeeping that differs by design between the two ways of building.
BOOKKEEPING = (
    "_load_id",
    "_staging_version",
    "_staged_in_run",
    "_restaged_from_run",
    "_customer_id_before_restage",
)
# c1's open of campaign k1 in the tiny fixture, and a time after everything in it.
OPENED, LATER = "2024-06-01 09:30:00", "2024-07-10 08:00:00"


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)


def _stage(
    raw_dir: Path, warehouse: Path, select: tuple[str, ...] = ("staging", EMAIL_FACT, QUARANTINE)
) -> list[str]:
    """Lands the folder, then builds the seeds, the staging models and the facts; returns the
    landing's changes."""
    settings = Settings(raw_dir=raw_dir, as_of=TINY_AS_OF, duckdb_path=warehouse)
    with connect_warehouse(warehouse) as con:
        landed = land_raw_files(con, raw_dir)
    # The seeds and the models in one invocation: `build` of those two types is `seed`, then `run`.
    run_dbt(
        "build",
        settings,
        "--select",
        "resource_type:seed",
        *select,
        "--resource-type",
        "seed",
        "--resource-type",
        "model",
    )
    # The tables of the folder (the optional reference tables have no file here).
    return [f"{table.name}:{table.change}:{table.rows_added}" for table in landed if table.source_file]


def _staged(warehouse: Path) -> dict[str, pd.DataFrame]:
    with connect_warehouse(warehouse, read_only=True) as con:
        tables = {
            model: con.execute(f"select * from staging.{model} order by _source_file, _source_row")
            .df()
            .drop(columns=list(BOOKKEEPING), errors="ignore")
            for model in BASE_MODELS
        }
        tables[EMAIL_FACT] = _email_fact(con)
        tables[QUARANTINE] = con.execute(
            f"select * exclude (_staged_in_run) from audit.{QUARANTINE} "
            "order by table_name, source_file, source_row"
        ).df()
        return tables


def _email_fact(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute(
        f"select * exclude (_staged_in_run) from intermediate.{EMAIL_FACT} order by customer_id, campaign_id"
    ).df()


def _assert_same_as_full_build(raw_dir: Path, incremental: Path, tmp_path: Path, name: str) -> None:
    """The full build goes to the incremental warehouse's path, which it is moved away from meanwhile:
    dbt re-parses the whole project whenever the warehouse path changes (about 3.5 s)."""
    actual = _staged(incremental)
    kept = incremental.rename(tmp_path / f"incremental before {name}.duckdb")
    try:
        _stage(raw_dir, incremental)
        expected = _staged(incremental)
    finally:
        incremental.unlink(missing_ok=True)
        kept.rename(incremental)
    for model in (*BASE_MODELS, EMAIL_FACT, QUARANTINE):
        pd.testing.assert_frame_equal(actual[model], expected[model], obj=f"{model} after {name}")


def _compiled(model: str) -> str:
    target = Path(os.environ["DBT_TARGET_PATH"])
    # The model's own compiled SQL, not a unit test's fixture of the same name (under <file>.yml/).
    (path,) = [
        path
        for path in target.glob(f"compiled/**/{model}.sql")
        if not any(part.endswith(".yml") for part in path.relative_to(target).parts)
    ]
    return path.read_text()


def _emails(warehouse: Path, customer_id: str) -> list[tuple]:
    with connect_warehouse(warehouse, read_only=True) as con:
        return con.execute(
            f"select campaign_id, first_event_at, first_open_at from intermediate.{EMAIL_FACT} "
            "where customer_id = ? order by campaign_id",
            [customer_id],
        ).fetchall()


def _audited(warehouse: Path, text: str) -> list[tuple]:
    """The rows of audit.quarantined_rows whose raw record contains `text`."""
    with connect_warehouse(warehouse, read_only=True) as con:
        return con.execute(
            f"select table_name, source_file, quarantine_reason from audit.{QUARANTINE} "
            "where raw_record like ? order by table_name, source_file, source_row",
            [f"%{text}%"],
        ).fetchall()


def _quarantine(warehouse: Path, model: str, key: str, value: str) -> list[tuple]:
    with connect_warehouse(warehouse, read_only=True) as con:
        return con.execute(
            f"select _source_file, quarantine_reason from staging.{model} where {key} = ? "
            "order by _source_file, _source_row",
            [value],
        ).fetchall()


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "raw"
    shutil.copytree(TINY_RAW_DIR, folder)
    return folder


def test_nightly_drops_restage_only_what_they_touch_and_match_a_full_build(
    raw_dir: Path, tmp_path: Path
) -> None:
    warehouse = tmp_path / "incremental.duckdb"
    assert _stage(raw_dir, warehouse) == [
        "customers:landed:11",
        "orders:landed:21",
        "order_items:landed:7",
        "email_events:landed:14",
        "campaigns:landed:3",
    ]

    # Night 2: daily drops. o2 comes again with another amount (the later file wins), o50 is new,
    # o51 names a customer the CRM has not exported yet, an event names an email nobody has yet,
    # and one event repeats an existing one exactly.
    _write(
        raw_dir / "orders" / "2024-07-01.csv",
        [
            {"order_id": "o2", "customer_id": "c1", "ordered_at": "2024-04-15 12:00:00", "amount": "2500"},
            {"order_id": "o50", "customer_id": "c1", "ordered_at": "2024-07-01 10:00:00", "amount": "700"},
            {"order_id": "o51", "customer_id": "c77", "ordered_at": "2024-07-01 11:00:00", "amount": "900"},
        ],
    )
    _write(
        raw_dir / "order_items" / "2024-07-01.csv",
        [
            {"order_id": "o50", "product_id": "p1", "quantity": "1", "unit_price": "700"},
            {"order_id": "o51", "product_id": "p2", "quantity": "3", "unit_price": "300"},
        ],
    )
    _write(
        raw_dir / "email_events" / "2024-07-01.csv",
        [
            {"customer_id": "c1", "campaign_id": "k1", "event_type": "open", "occurred_at": OPENED},
            {"email": "new.buyer@mail.ru", "campaign_id": "k2", "event_type": "open", "occurred_at": LATER},
            {"customer_id": "c2", "campaign_id": "k1", "event_type": "open", "occurred_at": LATER},
        ],
    )
    assert _stage(raw_dir, warehouse) == [
        "customers:unchanged:0",
        "orders:appended:3",
        "order_items:appended:2",
        "email_events:appended:3",
        "campaigns:unchanged:0",
    ]
    # Only the new load and the rows it touches were read: the compiled model filters on the load,
    # and the email fact on the staging run.
    assert "_load_id > 1" in _compiled("base_crm__orders")
    assert "_staged_in_run >" in _compiled(EMAIL_FACT)
    assert "_staged_in_run >" in _compiled(QUARANTINE)
    # c2's email of k1 gained its first open; c1's repeated open is a duplicate and changes nothing.
    assert _emails(warehouse, "c2") == [
        ("k0", pd.Timestamp("2023-12-01 07:00:00"), pd.Timestamp("2023-12-01 11:00:00")),
        ("k1", pd.Timestamp("2024-06-01 07:00:00"), pd.Timestamp(LATER)),
    ]
    assert _emails(warehouse, "c1")[0] == ("k1", pd.Timestamp("2024-06-01 07:00:00"), pd.Timestamp(OPENED))
    assert _quarantine(warehouse, "base_crm__orders", "order_id", "o2") == [
        ("orders.csv", "duplicate_order_id"),
        ("orders/2024-07-01.csv", None),
    ]
    assert _quarantine(warehouse, "base_crm__orders", "order_id", "o51") == [
        ("orders/2024-07-01.csv", "unknown_customer")
    ]
    assert _quarantine(warehouse, "base_crm__order_items", "order_id", "o51") == [
        ("order_items/2024-07-01.csv", "unknown_order")
    ]
    assert _quarantine(warehouse, "base_crm__email_events", "email_given", "new.buyer@mail.ru") == [
        ("email_events/2024-07-01.csv", "unknown_email")
    ]
    assert _audited(warehouse, '"o51"') == [
        ("order_items", "order_items/2024-07-01.csv", "unknown_order"),
        ("orders", "orders/2024-07-01.csv", "unknown_customer"),
    ]
    # The replaced version of o2 shows its raw row, which staging looks up for duplicates only.
    assert _audited(warehouse, '"o2"') == [
        ("order_items", "order_items.csv", "invalid_quantity"),
        ("order_items", "order_items.csv", "duplicate_order_item"),
        ("orders", "orders.csv", "duplicate_order_id"),
    ]
    _assert_same_as_full_build(raw_dir, warehouse, tmp_path, "night 2")

    # Night 3: the CRM's full export now has c77 and the owner of new.buyer@mail.ru, c4 is gone, and
    # c0 shares c2's email (the smallest customer_id gets the events matched by email).
    # No new order or event: the rows whose customer appeared, went away or changed are restaged.
    customers = pd.read_csv(raw_dir / "customers.csv", dtype=str)
    had_c4 = _quarantine(warehouse, "base_crm__orders", "customer_id", "c4")
    assert had_c4 and all(reason != "unknown_customer" for _, reason in had_c4)
    customers = customers[customers["customer_id"] != "c4"]
    customers = pd.concat(
        [
            customers,
            pd.DataFrame(
                [
                    {"customer_id": "c77", "email": "c77@mail.ru"},
                    {"customer_id": "c78", "email": "new.buyer@mail.ru"},
                    {"customer_id": "c0", "email": "anna.s@gmail.com"},
                ]
            ),
        ]
    )
    customers.to_csv(raw_dir / "customers.csv", index=False)
    changes = _stage(raw_dir, warehouse)
    assert changes[:3] == ["customers:replaced:13", "orders:unchanged:0", "order_items:unchanged:0"]
    assert _quarantine(warehouse, "base_crm__orders", "order_id", "o51") == [("orders/2024-07-01.csv", None)]
    assert _audited(warehouse, '"o51"') == []
    assert "_staged_in_run >" in _compiled(QUARANTINE)
    assert _quarantine(warehouse, "base_crm__order_items", "order_id", "o51") == [
        ("order_items/2024-07-01.csv", None)
    ]
    assert {reason for _, reason in _quarantine(warehouse, "base_crm__orders", "customer_id", "c4")} == {
        "unknown_customer"
    }
    with connect_warehouse(warehouse, read_only=True) as con:
        assert con.execute(
            "select customer_id from staging.base_crm__email_events where email_given = 'new.buyer@mail.ru'"
        ).fetchall() == [("c78",)]
    # The fact folded the moves in without a rebuild: c2's email of k0 went to c0.
    assert "_staged_in_run >" in _compiled(EMAIL_FACT)
    assert _emails(warehouse, "c0") == [
        ("k0", pd.Timestamp("2023-12-01 07:00:00"), pd.Timestamp("2023-12-01 11:00:00"))
    ]
    assert [campaign for campaign, *_ in _emails(warehouse, "c2")] == ["k1"]
    assert _emails(warehouse, "c78") == [("k2", pd.Timestamp(LATER), pd.Timestamp(LATER))]
    _assert_same_as_full_build(raw_dir, warehouse, tmp_path, "night 3")

    # Night 4: orders.csv itself changed (a corrected export): the landing replaces the table and
    # staging starts over instead of mixing two versions of the file.
    orders = pd.read_csv(raw_dir / "orders.csv", dtype=str)
    orders.loc[orders["order_id"] == "o1", "amount"] = "1111"
    orders.to_csv(raw_dir / "orders.csv", index=False)
    changes = _stage(raw_dir, warehouse)
    assert changes[1] == "orders:replaced:24"
    assert "_load_id >" not in _compiled("base_crm__orders")
    with connect_warehouse(warehouse, read_only=True) as con:
        assert con.execute(
            "select amount from staging.base_crm__orders where order_id = 'o1' and quarantine_reason is null"
        ).fetchall() == [(1111,)]
    _assert_same_as_full_build(raw_dir, warehouse, tmp_path, "night 4")

    # Rows folded in by other code (an edited model; here they also lost their first opens): the
    # next run rebuilds the fact instead of folding into them.
    with connect_warehouse(warehouse) as con:
        con.execute(f"update intermediate.{EMAIL_FACT} set _model_version = 'edited', first_open_at = null")
    _stage(raw_dir, warehouse)
    assert "_staged_in_run >" not in _compiled(EMAIL_FACT)
    assert _emails(warehouse, "c78") == [("k2", pd.Timestamp(LATER), pd.Timestamp(LATER))]
    _assert_same_as_full_build(raw_dir, warehouse, tmp_path, "the edited fact")


def _add_customers(raw_dir: Path, rows: list[dict[str, str]]) -> None:
    customers = pd.read_csv(raw_dir / "customers.csv", dtype=str)
    pd.concat([customers, pd.DataFrame(rows)]).to_csv(raw_dir / "customers.csv", index=False)


def test_the_email_fact_is_rebuilt_when_staging_ran_twice_without_it(raw_dir: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "incremental.duckdb"
    _stage(raw_dir, warehouse)
    # Two staging runs without the fact: the events matched by Anna's email move from c2 to c0, then
    # to a1. The second run records c0 as their customer before, so folding it in would leave c2's
    # email behind: the rows restaged twice make the fact rebuild instead.
    _add_customers(raw_dir, [{"customer_id": "c0", "email": "anna.s@gmail.com"}])
    _stage(raw_dir, warehouse, select=("staging",))
    _add_customers(raw_dir, [{"customer_id": "a1", "email": "anna.s@gmail.com"}])
    _stage(raw_dir, warehouse, select=("staging",))
    with connect_warehouse(warehouse, read_only=True) as con:
        assert con.execute(
            "select distinct customer_id, _customer_id_before_restage from staging.base_crm__email_events "
            "where email_given = 'anna.s@gmail.com'"
        ).fetchall() == [("a1", "c0")]

    _stage(raw_dir, warehouse)
    assert "_staged_in_run >" not in _compiled(EMAIL_FACT)
    assert [campaign for campaign, *_ in _emails(warehouse, "c2")] == ["k1"]
    assert [campaign for campaign, *_ in _emails(warehouse, "a1")] == ["k0"]
    _assert_same_as_full_build(raw_dir, warehouse, tmp_path, "two staging runs")


def test_a_quarantine_table_from_before_it_was_incremental_is_rebuilt(raw_dir: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "incremental.duckdb"
    _stage(raw_dir, warehouse)
    # The table as an earlier version built it (no bookkeeping), one row short, and one row too many.
    with connect_warehouse(warehouse) as con:
        con.execute(f"alter table audit.{QUARANTINE} drop column _staged_in_run")
        con.execute(f"alter table audit.{QUARANTINE} drop column _model_version")
        con.execute(f"delete from audit.{QUARANTINE} where table_name = 'orders'")
        con.execute(
            f"insert into audit.{QUARANTINE} values ('orders', 'gone.csv', 1, 'duplicate_order_id', '{{}}')"
        )
    _write(
        raw_dir / "orders" / "2024-07-01.csv",
        [{"order_id": "o50", "customer_id": "c1", "ordered_at": "2024-07-01 10:00:00", "amount": "-1"}],
    )
    _stage(raw_dir, warehouse)
    assert "_staged_in_run >" not in _compiled(QUARANTINE)
    assert _audited(warehouse, '"o50"') == [("orders", "orders/2024-07-01.csv", "negative_amount")]
    _assert_same_as_full_build(raw_dir, warehouse, tmp_path, "the table from an earlier version")


def test_an_unchanged_folder_is_not_landed_again(raw_dir: Path, tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "landing.duckdb")) as con:
        first = land_raw_files(con, raw_dir)
        second = land_raw_files(con, raw_dir)
        loads = con.execute(
            "select table_name, source_file, load_id from raw._landed_files order by 1, 2"
        ).fetchall()
    assert [(t.change, t.rows) for t in first] == [
        ("landed", 11),
        ("landed", 21),
        ("landed", 7),
        ("landed", 14),
        ("landed", 3),
        # the optional reference tables, absent: empty
        ("landed", 0),
        ("landed", 0),
    ]
    assert [(t.change, t.rows, t.rows_added) for t in second] == [
        ("unchanged", 11, 0),
        ("unchanged", 21, 0),
        ("unchanged", 7, 0),
        ("unchanged", 14, 0),
        ("unchanged", 3, 0),
        ("unchanged", 0, 0),
        ("unchanged", 0, 0),
    ]
    assert loads == [
        ("campaigns", "campaigns.csv", 1),
        ("customers", "customers.csv", 1),
        ("email_events", "email_events.csv", 1),
        ("order_items", "order_items.csv", 1),
        ("orders", "orders.csv", 1),
    ]


def test_a_removed_drop_lands_the_table_again(raw_dir: Path, tmp_path: Path) -> None:
    drop = raw_dir / "orders" / "2024-07-01.csv"
    _write(drop, [{"order_id": "o50", "customer_id": "c1", "ordered_at": "2024-07-01", "amount": "7"}])
    with duckdb.connect(str(tmp_path / "landing.duckdb")) as con:
        assert {t.name: t.rows for t in land_raw_files(con, raw_dir)}["orders"] == 22
        drop.unlink()
        orders = {t.name: t for t in land_raw_files(con, raw_dir)}["orders"]
        assert (orders.change, orders.rows) == ("replaced", 21)
        assert con.execute("select distinct _source_file, _load_id from raw.orders").fetchall() == [
            ("orders.csv", 2)
        ]
