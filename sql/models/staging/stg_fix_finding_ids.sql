-- One row per (fix, finding id it addresses), from dlt's child table `fixes__finding_ids`.
{%- set raw = pixee_raw_relation('fixes__finding_ids') %}
{%- set columns = pixee_raw_columns(raw) %}
with source as (
    select * from {{ pixee_from(raw) }}
),

renamed as (
    select
        -- ids: fix_row_key joins stg_fixes.fix_row_key (dlt's row key of the parent fix)
        {{ pixee_column(columns, '_dlt_parent_id', dbt.type_string()) }} as fix_row_key,
        {{ pixee_column(columns, 'value', dbt.type_string()) }} as finding_id,
        -- numerics
        {{ pixee_column(columns, '_dlt_list_idx', dbt.type_bigint()) }} as list_position
    from source
)

select * from renamed
