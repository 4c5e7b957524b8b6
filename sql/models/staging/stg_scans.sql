-- One row per scan, typed and renamed from the raw `scans` table.
{%- set raw = pixee_raw_relation('scans') %}
{%- set columns = pixee_raw_columns(raw) %}
with source as (
    select * from {{ pixee_from(raw) }}
),

renamed as (
    select
{{ stg_scan_columns(columns) }},
        {{ pixee_column(columns, '_deleted_at', dbt.type_timestamp()) }} as deleted_at
    from source
)

select * from renamed
