-- One row per (fix, finding id it addresses), from dlt's child table `fixes__finding_ids`.
{%- if pixee_is_platform() %}
-- platform: a patch lists the one finding of its (scan_id, finding_id), resolved through that scan to
-- (repository, detector, id); a patch whose scan the warehouse never read lists none
with patches as (
    select * from {{ ref('stg_pixee__platform_patch_versions') }}
),

scans as (
    select * from {{ ref('stg_pixee__platform_scans') }}
),

final as (
    select
        patches.fix_id as fix_row_key,
        patches.finding_id,
        {{ pixee_finding_key('scans.repository_id', 'scans.detector', 'patches.finding_id') }} as finding_key,
        cast(0 as {{ dbt.type_bigint() }}) as list_position
    from patches
    inner join scans
        on patches.scan_id = scans.scan_id
    where patches.is_current
        and patches.finding_id is not null
)

select * from final
{%- else %}
{%- set raw = pixee_raw_relation('fixes__finding_ids') %}
{%- set columns = pixee_raw_columns(raw) %}
with source as (
    select * from {{ pixee_from(raw) }}
),

renamed as (
    select
        -- ids: fix_row_key joins stg_pixee__fixes.fix_row_key (dlt's row key of the parent fix)
        {{ pixee_column(columns, '_dlt_parent_id', dbt.type_string()) }} as fix_row_key,
        {{ pixee_column(columns, 'value', dbt.type_string()) }} as finding_id,
        {{ pixee_column(columns, 'value', dbt.type_string()) }} as finding_key,
        -- numerics
        {{ pixee_column(columns, '_dlt_list_idx', dbt.type_bigint()) }} as list_position
    from source
)

select * from renamed
{%- endif %}
