"""Reverse-ETL: pushes segment membership from the warehouse to the email platforms (README, "Syncs").

- `config`: the sync config file (dbt_project/segments/syncs.yml) and credentials from the environment;
- `source`: the segment's contacts, consent and holdout applied, prepared in DuckDB;
- `diff`: adds, updates and removals against the delivered state;
- `state`: schema `sync_state` (delivered state, runs, row errors, provider opt-outs), Python-owned;
- `engine`: one run — read opt-outs back, diff, deliver in committed batches, audit;
- `destinations`: one module per platform (Mailchimp, SendGrid, Unisender, files): its spec and client,
  registered in `destinations/registry.py`; `factory` builds a sync's client from its spec;
- `cli`, `__main__`: `python -m orchestration sync` / `python -m orchestration.syncs`.
The Dagster assets are in orchestration/assets/syncs.py.
"""
