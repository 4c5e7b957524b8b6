-- One row per scan, typed and renamed from the raw `scans` table.
{%- if pixee_is_platform() %}
-- platform: one row per scan ever read; an expired scan is not deleted (deleted_at stays NULL)
with scans as (
    select * from {{ ref('stg_pixee__platform_scans') }}
),

final as (
    select
        scan_id,
        repository_id,
        cast(null as {{ dbt.type_string() }}) as state,
        cast(null as {{ dbt.type_string() }}) as scan_trigger,
        detector as detection_tool,
        branch,
        commit_sha,
        cast(null as {{ dbt.type_bigint() }}) as findings_count,
        cast(null as {{ dbt.type_bigint() }}) as fixes_generated,
        cast(null as double) as duration_seconds,
        cast(null as {{ dbt.type_timestamp() }}) as started_at,
        cast(null as {{ dbt.type_timestamp() }}) as completed_at,
        imported_at as created_at,
        imported_at as updated_at,
        cast(null as {{ dbt.type_timestamp() }}) as deleted_at
    from scans
)

select * from final
{%- else %}
{%- set raw = pixee_raw_relation('scans') %}
{%- set columns = pixee_raw_columns(raw) %}
with source as (
    select * from {{ pixee_from(raw) }}
),

renamed as (
    select
{{ pixee_stg_scan_columns(columns) }},
        {{ pixee_column(columns, '_deleted_at', dbt.type_timestamp()) }} as deleted_at
    from source
)

select * from renamed
{%- endif %}
