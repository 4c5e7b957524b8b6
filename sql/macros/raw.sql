{#- Reading the raw dataset whatever the load left out: a table never loaded (fix_details, a
    repository token's webhooks, history before it existed) reads as an empty relation, and a
    column dlt never created (it skips columns it saw only as null) reads as NULL. -#}

{% macro pixee_raw_relation(table) -%}
    {#- The raw table as a relation, or an empty stand-in when the warehouse has no such table. -#}
    {%- set declared = source('pixee', table) -%}
    {%- if not execute -%}
        {{ return(declared) }}
    {%- endif -%}
    {%- set found = adapter.get_relation(
        database=declared.database, schema=declared.schema, identifier=declared.identifier
    ) -%}
    {%- if found is none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(found) }}
{%- endmacro %}

{% macro pixee_raw_columns(relation) -%}
    {#- {lower-case name: name as the engine spells it} of a relation's columns; {} without one. -#}
    {%- set columns = {} -%}
    {%- if execute and relation is not none -%}
        {%- for column in adapter.get_columns_in_relation(relation) -%}
            {%- do columns.update({column.name | lower: column.name}) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(columns) }}
{%- endmacro %}

{% macro pixee_from(relation) -%}
    {#- What a staging model selects from: the raw table, or one row-less row when it is absent. -#}
    {%- if relation is none -%}
        (select 1 as pixee_absent where 1 = 0)
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}

{% macro pixee_column(columns, name, type) -%}
    {#- cast(<raw column> as <type>), or a typed NULL when the column does not exist. -#}
    {%- if name | lower in columns -%}
        cast({{ adapter.quote(columns[name | lower]) }} as {{ type }})
    {%- else -%}
        cast(null as {{ type }})
    {%- endif -%}
{%- endmacro %}

{% macro pixee_has_column(columns, name) -%}
    {{ return(name | lower in columns) }}
{%- endmacro %}

{% macro pixee_has_history(kind) -%}
    {#- Whether the warehouse holds <kind>_history (the versioned load's tables): without it every object has
        one version, its current row, and the models skip the window work of ordering versions.
        A platform source always has versions: its staging derives them (a finding's from events). -#}
    {{ return(execute and (pixee_is_platform() or pixee_raw_relation(kind ~ '_history') is not none)) }}
{%- endmacro %}

{% macro pixee_raw_has_column(table, column) -%}
    {#- Whether the raw table exists with that column (e.g. `_deleted_at`, absent from a load older than deletions). -#}
    {{ return(column | lower in pixee_raw_columns(pixee_raw_relation(table))) }}
{%- endmacro %}
