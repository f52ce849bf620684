"""The charts: Vega-Lite specs written with Altair from the panels' aggregated rows.

Each function takes the rows a query returned (for the options and sizes it derives from them) and the
translator, and returns a spec (a dict) without the rows: the page gives each chart its block's rows
as the dataset `rows` when it renders it with vega-embed. Labels come from the dictionary (i18n.py).
"""

from __future__ import annotations

from typing import Any

import altair as alt

from orchestration.report.i18n import Translator
from orchestration.report.queries import Row

Spec = dict[str, Any]
WIDTH = 460
# Every chart reads the named dataset `rows`: the page fills it from its block's rows in #report-data,
# so the numbers are embedded once (and Altair doesn't validate thousands of values against the schema).
ROWS = alt.NamedData(name="rows")


def _spec(chart: alt.TopLevelMixin) -> Spec:
    return chart.configure_view(strokeWidth=0).to_dict()


def rfm_heatmaps(rows: list[Row], t: Translator) -> Spec:
    """Two R × F heat maps (customers, share of all revenue) with an M-score selector that filters both."""
    m_scores = sorted({row["m_score"] for row in rows})
    m_param = alt.param(
        name="m_score_choice",
        value=0,
        bind=alt.binding_select(
            options=[0, *m_scores], labels=[t("rfm_all"), *map(str, m_scores)], name=t("rfm_m_toggle") + " "
        ),
    )
    base = (
        alt.Chart(ROWS)
        .transform_joinaggregate(total_revenue="sum(revenue)")
        .transform_filter("m_score_choice == 0 || datum.m_score == m_score_choice")
        .transform_aggregate(
            customers="sum(customers)",
            revenue="sum(revenue)",
            groupby=["r_score", "f_score", "total_revenue"],
        )
        .transform_calculate(revenue_share="datum.total_revenue ? datum.revenue / datum.total_revenue : 0")
        .encode(
            x=alt.X("r_score:O", title=t("r_score")),
            y=alt.Y("f_score:O", title=t("f_score"), sort="descending"),
        )
        .properties(width=WIDTH / 2, height=WIDTH / 2)
    )

    def heatmap(field: str, title: str, number_format: str) -> alt.LayerChart:
        tooltip = [
            alt.Tooltip("r_score:O", title=t("r_score")),
            alt.Tooltip("f_score:O", title=t("f_score")),
            alt.Tooltip("customers:Q", title=t("customers"), format=","),
            alt.Tooltip("revenue_share:Q", title=t("revenue_share"), format=".1%"),
        ]
        cells = base.mark_rect().encode(
            color=alt.Color(f"{field}:Q", title=title, legend=None, scale=alt.Scale(scheme="blues")),
            tooltip=tooltip,
        )
        labels = base.mark_text(fontSize=11).encode(text=alt.Text(f"{field}:Q", format=number_format))
        return alt.layer(cells, labels).properties(title=title)

    chart = alt.hconcat(
        heatmap("customers", t("rfm_grid_customers"), ","),
        heatmap("revenue_share", t("rfm_grid_revenue"), ".1%"),
    ).add_params(m_param)
    # Each panel its own colour scale: counts and shares have nothing in common.
    return _spec(chart.resolve_scale(color="independent"))


def rfm_segments(rows: list[Row], t: Translator) -> Spec:
    chart = (
        alt.Chart(ROWS)
        .mark_bar()
        .encode(
            y=alt.Y("rfm_segment:N", title=t("rfm_segment"), sort="-x"),
            x=alt.X("customers:Q", title=t("customers")),
            tooltip=[
                alt.Tooltip("rfm_segment:N", title=t("rfm_segment")),
                alt.Tooltip("customers:Q", title=t("customers"), format=","),
                alt.Tooltip("revenue:Q", title=t("revenue"), format=",.0f"),
                alt.Tooltip("avg_order_value:Q", title=t("aov"), format=",.0f"),
            ],
        )
        .properties(width=WIDTH, height=24 * max(len(rows), 1))
    )
    return _spec(chart)


def _date_axis(rows: list[Row]) -> alt.Axis:
    """Dates as YYYY-MM-DD; a tick per history date while they are few."""
    dates = sorted({row["as_of_date"] for row in rows})
    values = [{"year": int(d[:4]), "month": int(d[5:7]), "date": int(d[8:])} for d in dates]
    return alt.Axis(format="%Y-%m-%d", values=values if len(dates) <= 8 else alt.Undefined, labelAngle=-30)


def lines_over_time(rows: list[Row], series: str, value: str, t: Translator, series_title: str) -> Spec:
    chart = (
        alt.Chart(ROWS)
        .mark_line(point=True)
        .encode(
            x=alt.X("as_of_date:T", title=t("as_of_date"), axis=_date_axis(rows)),
            y=alt.Y(f"{value}:Q", title=t(value)),
            color=alt.Color(f"{series}:N", title=series_title),
            tooltip=[
                alt.Tooltip("as_of_date:T", title=t("as_of_date")),
                alt.Tooltip(f"{series}:N", title=series_title),
                alt.Tooltip(f"{value}:Q", title=t(value), format=","),
            ],
        )
        .properties(width=WIDTH * 0.75, height=260)
    )
    return _spec(chart)


def movement_matrix(rows: list[Row], t: Translator, title_from: str, title_to: str) -> Spec:
    base = alt.Chart(ROWS).encode(
        x=alt.X("to_segment:N", title=title_to), y=alt.Y("from_segment:N", title=title_from)
    )
    cells = base.mark_rect().encode(
        color=alt.Color("customers:Q", title=t("customers"), scale=alt.Scale(scheme="oranges", type="log")),
        tooltip=[
            alt.Tooltip("from_segment:N", title=title_from),
            alt.Tooltip("to_segment:N", title=title_to),
            alt.Tooltip("customers:Q", title=t("customers"), format=","),
        ],
    )
    labels = base.mark_text(fontSize=11).encode(text=alt.Text("customers:Q", format=","))
    return _spec(alt.layer(cells, labels).properties(width=WIDTH, height=WIDTH * 0.7))


def quarantine_bars(rows: list[Row], t: Translator) -> Spec:
    """One bar per table and reason, coloured by table: reasons are too many for a legend."""
    chart = (
        alt.Chart(ROWS)
        .transform_calculate(label="datum.table_name + ' · ' + datum.quarantine_reason")
        .mark_bar()
        .encode(
            y=alt.Y("label:N", title=None, sort="-x"),
            x=alt.X("quarantined_rows:Q", title=t("col_rows")),
            color=alt.Color("table_name:N", title=t("col_table")),
            tooltip=[
                alt.Tooltip("table_name:N", title=t("col_table")),
                alt.Tooltip("quarantine_reason:N", title=t("col_reason")),
                alt.Tooltip("quarantined_rows:Q", title=t("col_rows"), format=","),
            ],
        )
        .properties(width=WIDTH * 0.6, height=18 * len(rows))
    )
    return _spec(chart)


def quarantine_over_time(rows: list[Row], t: Translator) -> Spec:
    """Stacked bars per staging day (a band each), one colour per table."""
    chart = (
        alt.Chart(ROWS)
        .mark_bar()
        .encode(
            x=alt.X("staged_on:O", title=t("col_staged_on"), axis=alt.Axis(labelAngle=-30)),
            y=alt.Y("quarantined_rows:Q", title=t("col_rows"), stack="zero"),
            color=alt.Color("table_name:N", title=t("col_table")),
            tooltip=[
                alt.Tooltip("staged_on:O", title=t("col_staged_on")),
                alt.Tooltip("table_name:N", title=t("col_table")),
                alt.Tooltip("quarantined_rows:Q", title=t("col_rows"), format=","),
            ],
        )
        .properties(width=WIDTH * 0.6, height=220)
    )
    return _spec(chart)


def segment_flows(rows: list[Row], t: Translator, default_segment: str) -> Spec:
    """Entered (up) and exited (down) per history date, for the segment chosen in a drop-down."""
    keys = sorted({row["segment_key"] for row in rows})
    choice = alt.param(
        name="segment_choice",
        value=default_segment if default_segment in keys else keys[0],
        bind=alt.binding_select(options=keys, name=t("col_segment") + " "),
    )
    base = alt.Chart(ROWS).transform_filter("datum.segment_key == segment_choice")
    flows = (
        base.transform_fold(["entered", "exited"], as_=["flow", "customers"])
        .transform_filter("datum.customers != null")
        .transform_calculate(signed="datum.flow == 'exited' ? -datum.customers : datum.customers")
        .mark_bar()
        .encode(
            x=alt.X("as_of_date:O", title=t("as_of_date")),
            y=alt.Y("signed:Q", title=f"{t('entered')} / {t('exited')}"),
            color=alt.Color(
                "flow:N",
                title=None,
                scale=alt.Scale(domain=["entered", "exited"], range=["#1a7f37", "#b42318"]),
                legend=alt.Legend(labelExpr=f"datum.label == 'entered' ? '{t('entered')}' : '{t('exited')}'"),
            ),
            tooltip=[
                alt.Tooltip("as_of_date:O", title=t("as_of_date")),
                alt.Tooltip("flow:N", title=" "),
                alt.Tooltip("customers:Q", title=t("customers"), format=","),
            ],
        )
    )
    members = base.mark_line(point=True, color="#2f6fb0").encode(
        x=alt.X("as_of_date:O", title=t("as_of_date")),
        y=alt.Y("members:Q", title=t("members")),
        tooltip=[alt.Tooltip("as_of_date:O"), alt.Tooltip("members:Q", title=t("members"), format=",")],
    )
    chart = alt.vconcat(
        members.properties(width=WIDTH, height=140), flows.properties(width=WIDTH, height=160)
    ).add_params(choice)
    return _spec(chart)


def bars(
    rows: list[Row], category: str, value: str, titles: tuple[str, str], sort: str | None = "-x"
) -> Spec:
    chart = (
        alt.Chart(ROWS)
        .mark_bar()
        .encode(
            y=alt.Y(f"{category}:N", title=titles[0], sort=sort),
            x=alt.X(f"{value}:Q", title=titles[1]),
            tooltip=[
                alt.Tooltip(f"{category}:N", title=titles[0]),
                alt.Tooltip(f"{value}:Q", title=titles[1], format=",.2f"),
            ],
        )
        .properties(width=WIDTH * 0.8, height=max(60, 20 * len(rows)))
    )
    return _spec(chart)


def histogram(rows: list[Row], t: Translator) -> Spec:
    """Bars from bin_start to bin_end; the last bin also counts the values above it (tooltip: "and more")."""
    chart = (
        alt.Chart(ROWS)
        .mark_bar()
        .encode(
            x=alt.X("bin_start:Q", bin="binned", title=t("predicted_clv"), axis=alt.Axis(format=",.0f")),
            x2="bin_end:Q",
            y=alt.Y("customers:Q", title=t("customers")),
            tooltip=[
                alt.Tooltip("bin_start:Q", title="≥", format=",.0f"),
                alt.Tooltip("bin_end:Q", title="<", format=",.0f"),
                alt.Tooltip("is_open_ended:N", title=t("and_more")),
                alt.Tooltip("customers:Q", title=t("customers"), format=","),
            ],
        )
        .properties(width=WIDTH, height=220)
    )
    return _spec(chart)


def cohort_heatmap(rows: list[Row], value: str, t: Translator, number_format: str, scheme: str) -> Spec:
    chart = (
        alt.Chart(ROWS)
        .mark_rect()
        .encode(
            x=alt.X("months_since_first_order:O", title=t("months_since")),
            y=alt.Y("cohort_month:O", title=t("cohort_month")),
            color=alt.Color(f"{value}:Q", title=None, scale=alt.Scale(scheme=scheme)),
            tooltip=[
                alt.Tooltip("cohort_month:O", title=t("cohort_month")),
                alt.Tooltip("months_since_first_order:O", title=t("months_since")),
                alt.Tooltip("cohort_customers:Q", title=t("customers"), format=","),
                alt.Tooltip(f"{value}:Q", format=number_format),
            ],
        )
        .properties(width=WIDTH * 0.8, height=min(700, 12 * len({row["cohort_month"] for row in rows})))
    )
    return _spec(chart)
