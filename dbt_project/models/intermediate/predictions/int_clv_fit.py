"""The BG/NBD and Gamma-Gamma fits on int_clv_inputs: one row per model parameter, with diagnostics.

The one engine-specific model of the project: a dbt Python model, run by dbt-duckdb inside the dbt
process. The work is done by orchestration/predictions/clv.py, which the tests call too. With too
little data nothing is fitted and every row says why (see marts.clv_model_fits).
"""

import os
import sys


def _clv_module():
    try:
        from orchestration.predictions import clv
    except ModuleNotFoundError:
        # dbt in a process of its own (the Dagster job, a developer's `dbt build`) runs in the
        # project folder, which dagster-dbt also passes as DBT_PROJECT_DIR.
        sys.path.insert(0, os.environ.get("DBT_PROJECT_DIR") or os.getcwd())
        from orchestration.predictions import clv
    return clv


def model(dbt, session):
    dbt.config(materialized="table")
    clv = _clv_module()
    inputs = dbt.ref("int_clv_inputs").df().rename(columns={"recency_days": "recency", "t_days": "T"})
    fit = clv.fit_clv_models(
        inputs,
        min_buyers=int(dbt.config.meta_get("clv_min_buyers")),
        min_repeat_buyers=int(dbt.config.meta_get("clv_min_repeat_buyers")),
        max_customers=int(dbt.config.meta_get("clv_fit_max_customers")),
    )
    return clv.fit_rows(fit)
