-- One row per fix, typed and renamed from the raw `fixes` table (finding ids: stg_pixee__fix_finding_ids).
{%- if pixee_is_platform() %}
-- platform: one fix per patch, in its latest observed version (stg_pixee__platform_patch_versions)
with versions as (
    select * from {{ ref('stg_pixee__platform_patch_versions') }}
),

final as (
    select
        fix_id, repository_id, codemod, detection_tool, summary, status, pr_url, ai_generated,
        files_changed, pr_number, generated_at, pr_opened_at, merged_at, closed_at, updated_at,
        fix_id as fix_row_key,
        cast(null as {{ dbt.type_timestamp() }}) as deleted_at
    from versions
    where is_current
)

select * from final
{%- else %}
{%- set raw = pixee_raw_relation('fixes') %}
{%- set columns = pixee_raw_columns(raw) %}
with source as (
    select * from {{ pixee_from(raw) }}
),

renamed as (
    select
{{ pixee_stg_fix_columns(columns) }},
        -- fix_row_key joins stg_pixee__fix_finding_ids.fix_row_key (dlt's row key of the fix)
        {{ pixee_column(columns, '_dlt_id', dbt.type_string()) }} as fix_row_key,
        {{ pixee_column(columns, '_deleted_at', dbt.type_timestamp()) }} as deleted_at
    from source
)

select * from renamed
{%- endif %}
