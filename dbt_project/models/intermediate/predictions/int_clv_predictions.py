"""Per buyer: P(alive), expected purchases in 30 days, expected spend per purchase and the 12-month
CLV, from the parameters recorded by int_clv_fit (no second fit). Null, with the reason, for every
buyer when the models were not fitted.

A dbt Python model (engine-specific, like int_clv_fit); the work is in orchestration/predictions/clv.py.
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
    fit = clv.fit_from_rows(dbt.ref("int_clv_fit").df())
    predictions = clv.predict(
        inputs,
        fit,
        purchase_horizon=30,
        clv_months=12,
        monthly_discount_rate=float(dbt.config.meta_get("clv_monthly_discount_rate")),
        time_unit="D",
    )
    return predictions.rename(
        columns={"expected_purchases": "expected_purchases_30d", "predicted_clv": "predicted_clv_12m"}
    )
