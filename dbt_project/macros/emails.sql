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

{#- Whether the email of the int_email_first_events row `first_events` had an event of `event_type`
    before `cutoff`. -#}
{% macro email_event_seen(first_events, event_type, cutoff) -%}
    coalesce({{ first_events }}.first_{{ event_type }}_at < {{ cutoff }}, false)
{%- endmacro %}

{#- An email's sent_at on the date of `cutoff`: its first 'sent' event, else its first event. -#}
{% macro email_sent_at(first_events, cutoff) -%}
    coalesce(
        case when {{ email_event_seen(first_events, 'sent', cutoff) }} then {{ first_events }}.first_sent_at end,
        {{ first_events }}.first_event_at
    )
{%- endmacro %}

{#- Delivered by `cutoff`: a delivered, open, click, unsubscribe or complaint event proves delivery;
    otherwise a bounce means the email was not delivered. -#}
{% macro email_is_delivered(first_events, cutoff) -%}
    {%- for event_type in ['delivered', 'open', 'click', 'unsubscribe', 'complaint'] -%}
        {{ email_event_seen(first_events, event_type, cutoff) }} or {% endfor -%}
    not {{ email_event_seen(first_events, 'bounce', cutoff) }}
{%- endmacro %}
