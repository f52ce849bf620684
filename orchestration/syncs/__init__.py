"""Reverse-ETL: pushes segment membership from the warehouse to the email platforms."""
