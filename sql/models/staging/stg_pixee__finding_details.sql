-- One row per finding whose details were read (only when details are on), from `finding_details`.
{%- set raw = pixee_raw_relation('finding_details') %}
{%- set columns = pixee_raw_columns(raw) %}
with source as (
    select * from {{ pixee_from(raw) }}
),

renamed as (
    select
        -- ids
        {{ pixee_column(columns, 'id', dbt.type_string()) }} as finding_id,
        -- strings
        {{ pixee_column(columns, 'justification', dbt.type_string()) }} as justification
    from source
)

select * from renamed
