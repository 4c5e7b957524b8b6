{#- The few places DuckDB and Snowflake spell a thing differently, through adapter.dispatch;
    everything else in the models is SQL both engines read alike, or dbt's own cross-database
    macros (dbt.datediff, dbt.date_trunc, dbt.dateadd, dbt.type_timestamp). -#}

{% macro pixee_percentile(expression, fraction) -%}
    {{ return(adapter.dispatch('pixee_percentile', 'pixee')(expression, fraction)) }}
{%- endmacro %}

{% macro default__pixee_percentile(expression, fraction) -%}
    percentile_cont({{ fraction }}) within group (order by {{ expression }})
{%- endmacro %}

{% macro duckdb__pixee_percentile(expression, fraction) -%}
    quantile_cont({{ expression }}, {{ fraction }})
{%- endmacro %}

{% macro pixee_hours_between(start, end) -%}
    {#- Exact hours: microseconds between two timestamps / 3600e6, never a count of hour boundaries. -#}
    cast({{ dbt.datediff(start, end, 'microsecond') }} as double) / 3600000000.0
{%- endmacro %}

{% macro pixee_day_number(date_expression) -%}
    {#- Days since 1970-01-01: integer day arithmetic, which every engine does alike. -#}
    {{ dbt.datediff("cast('1970-01-01' as date)", 'cast(' ~ date_expression ~ ' as date)', 'day') }}
{%- endmacro %}

{% macro pixee_day_from_number(day_number) -%}
    {{ return(adapter.dispatch('pixee_day_from_number', 'pixee')(day_number)) }}
{%- endmacro %}

{% macro default__pixee_day_from_number(day_number) -%}
    cast({{ dbt.dateadd('day', day_number, "cast('1970-01-01' as date)") }} as date)
{%- endmacro %}

{% macro duckdb__pixee_day_from_number(day_number) -%}
    cast(date '1970-01-01' + cast({{ day_number }} as integer) as date)
{%- endmacro %}

{% macro pixee_week_start(expression) -%}
    {#- The Monday of the week: DuckDB's and Snowflake's (WEEK_START 0 or 1) date_trunc('week'). -#}
    cast({{ dbt.date_trunc('week', expression) }} as date)
{%- endmacro %}

{% macro pixee_add_days(timestamp_expression, days) -%}
    {{ dbt.dateadd('day', days, timestamp_expression) }}
{%- endmacro %}
