{#- The rows a daily mart counts into: one per (day, key) from the day of the first event through the
    as-of date, so a day with nothing still shows its zeros. -#}

{% macro pixee_day_spine(events, key, dated_by) -%}
    {#- `events`: the CTE of what the mart counts; `key`: the column each day is split by;
        `dated_by`: the timestamp that dates an event (its earliest day starts the spine). -#}
    select calendar.day, calendar.day_number, event_keys.{{ key }}
    from {{ ref('int_pixee__calendar') }} as calendar
    cross join (select distinct {{ key }} from {{ events }}) as event_keys
    inner join (select min({{ pixee_day_number(dated_by) }}) as day_number from {{ events }}) as first_day
        on calendar.day_number >= first_day.day_number
{%- endmacro %}
