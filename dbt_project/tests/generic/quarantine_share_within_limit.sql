{#- The quarantine gate on one raw table (attached to its stg_crm__ view, which every model using the
    table reads, so a failure skips them all): fails when the quarantined share of its newest landing
    or of all its rows is over var max_quarantine_share (macros/quarantine_gate.sql). The failing
    row names the table, the share, the top reasons and sample rows (file:line); it is kept as a
    view (store_failures) that `make run` reads to explain the failure. -#}
{% test quarantine_share_within_limit(model, table_name, max_share=none, min_rows=none) %}
    {{ config(store_failures=true, store_failures_as='view', schema='quality') }}

    {{ quarantine_gate_failures(
        table_name,
        max_quarantine_share() if max_share is none else max_share,
        quarantine_gate_min_rows() if min_rows is none else min_rows,
    ) }}

{% endtest %}
