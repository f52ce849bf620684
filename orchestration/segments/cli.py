"""`python -m orchestration segments compile` (`make segments`), `… segments check`
(`make check-segments`) and `… explain --customer ID`.

`compile` writes the catalogue (CRM_SEGMENTS_CATALOG) as dbt files, after which a plain `dbt build`
builds the segments; it needs no warehouse. `check` and `explain` read the existing warehouse
(CRM_SEGMENTS_DUCKDB) read-only; neither builds anything nor writes to the warehouse.
"""

from __future__ import annotations

import argparse
import sys

from orchestration.segments.catalog import CatalogError
from orchestration.segments.check import check_segments
from orchestration.segments.dbt_files import write_dbt_files
from orchestration.segments.explain import explain_customer
from orchestration.segments.rules import SegmentDefinitionError
from orchestration.settings import Settings

CHECK_DESCRIPTION = (
    "Compiles the segment catalogue (CRM_SEGMENTS_CATALOG) against the existing warehouse "
    "(CRM_SEGMENTS_DUCKDB), lists every problem at once, and counts each segment's members with a few "
    "sample customer ids. Read-only, no dbt build; exits 1 if the catalogue has a problem."
)
COMPILE_DESCRIPTION = (
    "Validates the segment catalogue (CRM_SEGMENTS_CATALOG) and writes it as dbt files into "
    "CRM_SEGMENTS_COMPILED_DIR (default dbt_project/segments/compiled): two seeds and two models. A plain "
    "`dbt build` then builds the segments, their history and KPIs. Exits 1, naming every problem, if the "
    "catalogue has one (nothing is written then)."
)
EXPLAIN_DESCRIPTION = (
    "Shows why a customer is or is not in each segment (or the one given): every condition of the "
    "rule with the customer's value and whether it holds, the static list, the exclusive group and "
    "the holdout. Read-only, on the existing warehouse."
)


def add_segments_parsers(commands: argparse._SubParsersAction) -> None:
    """Adds `segments check` and `explain` to the command line."""
    segments = commands.add_parser(
        "segments",
        help="compile the segment catalogue into dbt files, or check it against the warehouse",
        description=CHECK_DESCRIPTION,
    )
    actions = segments.add_subparsers(dest="segments_command", required=True)
    actions.add_parser(
        "check", help="list every catalogue problem and count members", description=CHECK_DESCRIPTION
    )
    actions.add_parser("compile", help="write the catalogue as dbt files", description=COMPILE_DESCRIPTION)
    explain = commands.add_parser(
        "explain", help="why a customer is or is not in a segment", description=EXPLAIN_DESCRIPTION
    )
    explain.add_argument("--customer", required=True, metavar="ID", help="the customer_id to explain")
    explain.add_argument("--segment", metavar="KEY", help="only this segment (default: every segment)")


def segments_command(args: argparse.Namespace, settings: Settings) -> int:
    """`segments check`: prints the report; 1 if the catalogue has a problem or can't be checked."""
    if getattr(args, "segments_command", "check") == "compile":
        return compile_command(settings)
    try:
        report = check_segments(settings)
    except CatalogError as error:
        print(f"crm-segments: {error}", file=sys.stderr)
        return 1
    print(report.format())
    return 0 if report.ok else 1


def explain_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        explanation = explain_customer(settings, args.customer, args.segment)
    except CatalogError as error:
        print(f"crm-segments: {error}", file=sys.stderr)
        return 1
    print(explanation.format())
    return 0


def compile_command(settings: Settings) -> int:
    try:
        catalog = write_dbt_files(settings.catalog_path, settings.compiled_dir)
    except (CatalogError, SegmentDefinitionError) as error:
        print(f"crm-segments: {settings.catalog_path}: {error}", file=sys.stderr)
        return 1
    print(
        f"{len(catalog.segments)} segments and {len(catalog.static_members)} static list rows compiled "
        f"from {settings.catalog_path} into {settings.compiled_dir}"
    )
    return 0
