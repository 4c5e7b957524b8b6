-- One row per finding, typed and renamed from the raw `findings` table (its latest observed state).
{%- set raw = pixee_raw_relation('findings') %}
{%- set columns = pixee_raw_columns(raw) %}
with source as (
    select * from {{ pixee_from(raw) }}
),

renamed as (
    select
{{ stg_finding_columns(columns) }},
        -- set when a complete read no longer found it (NULL without the column: nothing deleted)
        {{ pixee_column(columns, '_deleted_at', dbt.type_timestamp()) }} as deleted_at
    from source
)

select * from renamed
