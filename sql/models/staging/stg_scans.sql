-- One row per scan, typed and renamed from the raw `scans` table.
{%- set raw = pixee_raw_relation('scans') %}
{%- set columns = pixee_raw_columns(raw) %}
with source as (
    select * from {{ pixee_from(raw) }}
),

renamed as (
    select
        -- ids
        {{ pixee_column(columns, 'id', dbt.type_string()) }} as scan_id,
        {{ pixee_column(columns, 'repository_id', dbt.type_string()) }} as repository_id,
        -- strings
        {{ pixee_column(columns, 'state', dbt.type_string()) }} as state,
        {{ pixee_column(columns, 'trigger', dbt.type_string()) }} as scan_trigger,
        {{ pixee_column(columns, 'detection_tool', dbt.type_string()) }} as detection_tool,
        {{ pixee_column(columns, 'branch', dbt.type_string()) }} as branch,
        {{ pixee_column(columns, 'commit_sha', dbt.type_string()) }} as commit_sha,
        -- numerics
        {{ pixee_column(columns, 'findings_count', dbt.type_bigint()) }} as findings_count,
        {{ pixee_column(columns, 'fixes_generated', dbt.type_bigint()) }} as fixes_generated,
        {{ pixee_column(columns, 'duration_seconds', 'double') }} as duration_seconds,
        -- timestamps (UTC)
        {{ pixee_column(columns, 'started_at', dbt.type_timestamp()) }} as started_at,
        {{ pixee_column(columns, 'completed_at', dbt.type_timestamp()) }} as completed_at,
        {{ pixee_column(columns, 'created_at', dbt.type_timestamp()) }} as created_at,
        {{ pixee_column(columns, 'updated_at', dbt.type_timestamp()) }} as updated_at,
        {{ pixee_column(columns, '_deleted_at', dbt.type_timestamp()) }} as deleted_at
    from source
)

select * from renamed
