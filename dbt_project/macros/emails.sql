{#- The email event types whose first occurrence int_email_first_events keeps per email, and from
    which int_emails derives its flags (seeds/email_event_type_map.csv maps raw names onto them). -#}
{% macro email_event_types() -%}
    {{ return(['sent', 'bounce', 'delivered', 'open', 'click', 'unsubscribe', 'complaint']) }}
{%- endmacro %}

{#- The aggregates of int_email_first_events over the staged events `events`, grouped by email. -#}
{% macro email_first_event_aggregates(events) -%}
    min({{ events }}.occurred_at) as first_event_at,
    {%- for event_type in email_event_types() %}
    min(case when {{ events }}.event_type = '{{ event_type }}' then {{ events }}.occurred_at end)
        as first_{{ event_type }}_at,
    {%- endfor %}
    max({{ events }}._staged_in_run) as _staged_in_run
{%- endmacro %}
