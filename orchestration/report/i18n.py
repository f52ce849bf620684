"""Every text of the report, keyed by message id: one dictionary per language (English is complete;
another language falls back to English for the ids it lacks)."""

from __future__ import annotations

EN: dict[str, str] = {
    "title": "crm-segments report",
    "subtitle": "As of {as_of}. Previous run: {previous}.",
    "no_previous": "none (first date of history)",
    # Morning digest
    "digest": "Morning digest",
    "digest_intro": "Segments to act on today, their change since the previous run, the suggested action.",
    "digest_ready_to_buy": "Ready to buy this week",
    "digest_due_repeat": "Due for a repeat purchase",
    "digest_churn_risk": "High churn risk",
    "digest_new_vips": "New VIPs",
    "digest_newly_lapsed": "Newly lapsed",
    "col_item": "What",
    "col_segment": "Segment",
    "col_name": "Name",
    "col_size": "Size today",
    "col_change": "Change since previous run",
    "col_entered": "Entered",
    "col_exited": "Exited",
    "col_action": "Suggested action",
    "col_owner": "Owner",
    "segment_missing": "segment {key} is not in the catalogue",
    "syncs": "Syncs",
    "col_sync": "Sync",
    "col_destination": "Destination",
    "col_status": "Status",
    "col_sent": "Sent",
    "col_failed": "Failed rows",
    "col_error": "Error",
    "empty_syncs": "No sync ran for this date (none configured, or the syncs have not run yet).",
    # RFM
    "rfm": "RFM",
    "rfm_grid_customers": "Customers by R × F score",
    "rfm_grid_revenue": "Share of revenue by R × F score",
    "rfm_m_toggle": "M score",
    "rfm_all": "all",
    "r_score": "R score (recency)",
    "f_score": "F score (frequency)",
    "m_score": "M score (monetary)",
    "customers": "Customers",
    "revenue": "Revenue",
    "revenue_share": "Share of revenue",
    "aov": "Average order value",
    "rfm_segments": "RFM segments: size, revenue and AOV",
    "rfm_sizes_over_time": "RFM segment sizes over time",
    "rfm_movement": "Movement between RFM segments from {from_date} to {to_date}",
    "rfm_from": "From segment",
    "rfm_to": "To segment",
    "as_of_date": "As-of date",
    "rfm_segment": "RFM segment",
    "empty_rfm": "No buyers yet: the RFM scores need at least one completed order.",
    "empty_history": "Only one date of history so far: this chart needs two or more runs.",
    "empty_movement": "No earlier date of history to compare with: movement shows from the second run on.",
    # Segments
    "segments": "Segments",
    "segment_sizes": "Segment sizes",
    "segment_flows": "Entered and exited over time",
    "members": "Members",
    "holdout_members": "Holdout",
    "entered": "Entered",
    "exited": "Exited",
    "empty_segments": "The segment catalogue has no segments with members yet.",
    "segment_uplift": "Outcomes after entry: treated against holdout",
    "col_window": "Window (days)",
    "col_treated": "Treated",
    "col_holdout": "Holdout",
    "col_uplift": "Uplift",
    "empty_uplift": "No uplift yet: it needs segments with a holdout and entries whose window has closed.",
    "campaign_roi": "Campaign ROI by segment",
    "col_cost": "Cost",
    "col_emailable": "Emailable",
    "col_conversion": "conversion",
    "col_ci_lower": "Uplift, 95% low",
    "col_ci_upper": "Uplift, 95% high",
    "col_incremental_revenue": "Incremental revenue",
    "col_verdict": "Verdict",
    "col_delivered": "Emails delivered",
    "col_conversions": "Conversions",
    "col_expected_purchases": "Expected purchases (30 days)",
    "col_converged": "Converged",
    "col_message": "Message",
    "empty_model_fits": "The CLV models have not been fitted for this date.",
    "col_roi": "ROI",
    "empty_campaigns": "No campaign emails in the data yet: ROI shows once campaigns are sent.",
    # Predictions
    "predictions": "Predictions",
    "clv_distribution": "Predicted 12-month CLV",
    "churn_distribution": "Churn risk",
    "predicted_clv": "Predicted CLV (12 months)",
    "and_more": "Includes the values above (top 1%)",
    "churn_risk": "Churn risk",
    "top_clv": "Top 20 customers by predicted CLV",
    "col_customer": "Customer",
    "col_p_alive": "P(alive)",
    "col_frequency": "Repeat purchases",
    "model_fits": "Model fits",
    "col_model": "Model",
    "col_parameter": "Parameter",
    "col_value": "Value",
    "empty_predictions": "No predictions: the CLV models are not fitted (too few repeat buyers).",
    # Cohorts
    "cohorts": "Cohorts",
    "cohort_retention": "Retention by first-order month",
    "cohort_revenue": "Cumulative revenue per buyer by first-order month",
    "cohort_month": "First-order month",
    "months_since": "Months since first order",
    "empty_cohorts": "No cohorts yet: they start with the first completed order.",
    # Data quality
    "quality": "Data quality",
    "reconciliation": "Raw rows: landed = staged + quarantined",
    "col_table": "Table",
    "col_raw": "Landed",
    "col_staged": "Staged",
    "col_quarantined": "Quarantined",
    "quarantine": "Quarantined rows by table and reason",
    "quarantine_over_time": "Quarantined rows per staging run (the day of the run that staged them)",
    "col_staged_on": "Staged on",
    "col_reason": "Reason",
    "col_rows": "Rows",
    "empty_quarantine": "No row was quarantined: every landed row was usable.",
    "gx_results": "Great Expectations results of the run",
    "col_suite": "Suite",
    "col_rows_checked": "Rows checked",
    "col_failures": "Failures",
    "passed": "passed",
    "failed": "failed",
    "empty_gx": "No Great Expectations results for this date (the checks run in the nightly job).",
    "sync_errors": "Sync errors (unresolved rows)",
    "empty_sync_errors": "No unresolved sync errors.",
    "empty_warehouse": "The warehouse has no {table} table yet: run the nightly job first.",
    "footer": "Built by crm-segments from the marts; charts: Vega-Lite (embedded, works offline).",
}

# A partial Russian dictionary: the ids it lacks are shown in English.
RU: dict[str, str] = {
    "title": "Отчёт crm-segments",
    "digest": "Утренняя сводка",
    "rfm": "RFM",
    "segments": "Сегменты",
    "predictions": "Прогнозы",
    "cohorts": "Когорты",
    "quality": "Качество данных",
}

MESSAGES: dict[str, dict[str, str]] = {"en": EN, "ru": RU}


class Translator:
    """`t("id", name=value)`: the message in the language (English when it lacks it), formatted."""

    def __init__(self, lang: str = "en") -> None:
        if lang not in MESSAGES:
            raise ValueError(f"no report dictionary for language {lang!r} (have: {', '.join(MESSAGES)})")
        self.lang = lang
        self.messages = {**EN, **MESSAGES[lang]}

    def __call__(self, message_id: str, **values: object) -> str:
        return self.messages[message_id].format(**values)
