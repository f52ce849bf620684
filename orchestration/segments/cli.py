"""`python -m orchestration segments check` (`make check-segments`) and `… explain --customer ID`.

Both read the existing warehouse (CRM_SEGMENTS_DUCKDB) read-only and the catalogue
(CRM_SEGMENTS_CATALOG); neither builds anything nor writes to the warehouse.
"""

from __future__ import annotations

import argparse
import sys

from orchestration.segments.catalog import CatalogError
from orchestration.segments.check import check_segments
from orchestration.segments.explain import explain_customer
from orchestration.settings import Settings

CHECK_DESCRIPTION = (
    "Compiles the segment catalogue (CRM_SEGMENTS_CATALOG) against the existing warehouse "
    "(CRM_SEGMENTS_DUCKDB), lists every problem at once, and counts each segment's members with a few "
    "sample customer ids. Read-only, no dbt build; exits 1 if the catalogue has a problem."
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
        help="check the segment catalogue against the existing warehouse (no build)",
        description=CHECK_DESCRIPTION,
    )
    actions = segments.add_subparsers(dest="segments_command", required=True)
    actions.add_parser(
        "check", help="list every catalogue problem and count members", description=CHECK_DESCRIPTION
    )
    explain = commands.add_parser(
        "explain", help="why a customer is or is not in a segment", description=EXPLAIN_DESCRIPTION
    )
    explain.add_argument("--customer", required=True, metavar="ID", help="the customer_id to explain")
    explain.add_argument("--segment", metavar="KEY", help="only this segment (default: every segment)")


def segments_command(args: argparse.Namespace, settings: Settings) -> int:
    """`segments check`: prints the report; 1 if the catalogue has a problem or can't be checked."""
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
