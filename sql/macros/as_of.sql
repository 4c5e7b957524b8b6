{#- The as-of date (var pixee_as_of, YYYY-MM-DD; default: the UTC date the run started) as SQL and as a
    day number, both computed here so that no model does date arithmetic on it. -#}

{% macro pixee_as_of_date() -%}
    {%- set value = var('pixee_as_of', none) -%}
    {%- if value is none or value == '' -%}
        {%- set value = run_started_at.strftime('%Y-%m-%d') -%}
    {%- endif -%}
    {%- set parsed = modules.datetime.date.fromisoformat(value | string) -%}
    {{ return(parsed) }}
{%- endmacro %}

{% macro pixee_as_of() -%}
    cast('{{ pixee_as_of_date().isoformat() }}' as date)
{%- endmacro %}

{% macro pixee_as_of_day_number() -%}
    {{ (pixee_as_of_date() - modules.datetime.date(1970, 1, 1)).days }}
{%- endmacro %}

{% macro pixee_as_of_end() -%}
    {#- The instant the as-of date ends: the next day at 00:00 UTC. -#}
    {%- set next_day = pixee_as_of_date() + modules.datetime.timedelta(days=1) -%}
    cast('{{ next_day.isoformat() }} 00:00:00' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{% macro pixee_sla_days() -%}
    {#- {severity: days} in force; the runner validates the profile's values before dbt starts. -#}
    {{ return(var('pixee_sla_days')) }}
{%- endmacro %}

{% macro pixee_state_order(updated_at='updated_at') -%}
    {#- Orders an object's versions so that the first is its state at the end of the as-of date:
        the newest before then, else (none before then) the oldest. -#}
    case when {{ updated_at }} < {{ pixee_as_of_end() }} then 0 else 1 end,
    case when {{ updated_at }} < {{ pixee_as_of_end() }} then {{ updated_at }} end desc,
    {{ updated_at }}
{%- endmacro %}
