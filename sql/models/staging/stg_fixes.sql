-- One row per fix, typed and renamed from the raw `fixes` table (finding ids: stg_fix_finding_ids).
{%- set raw = pixee_raw_relation('fixes') %}
{%- set columns = pixee_raw_columns(raw) %}
with source as (
    select * from {{ pixee_from(raw) }}
),

renamed as (
    select
{{ stg_fix_columns(columns) }},
        -- fix_row_key joins stg_fix_finding_ids.fix_row_key (dlt's row key of the fix)
        {{ pixee_column(columns, '_dlt_id', dbt.type_string()) }} as fix_row_key,
        {{ pixee_column(columns, '_deleted_at', dbt.type_timestamp()) }} as deleted_at
    from source
)

select * from renamed
