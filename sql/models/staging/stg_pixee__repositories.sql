-- One row per repository, typed and renamed from the raw `repositories` table.
{%- if pixee_is_platform() %}
-- platform: the repository's current row; last_scan_at is the newest imported_at of its scans (every
-- branch, expired ones included)
with versions as (
    select * from {{ ref('stg_pixee__platform_repository_versions') }}
),

scans as (
    select * from {{ ref('stg_pixee__platform_scans') }}
),

last_scans as (
    select repository_id, max(imported_at) as last_scan_at
    from scans
    group by repository_id
),

final as (
    select
        versions.repository_id,
        versions.repository_name,
        versions.full_name,
        versions.scm,
        versions.default_branch,
        cast(null as {{ dbt.type_string() }}) as language,
        cast(null as {{ dbt.type_boolean() }}) as is_enabled,
        cast(null as {{ dbt.type_boolean() }}) as auto_fix,
        cast(null as {{ dbt.type_boolean() }}) as triage_enabled,
        cast(null as {{ dbt.type_bigint() }}) as max_open_prs,
        last_scans.last_scan_at,
        versions.created_at,
        versions.updated_at,
        versions.deleted_at
    from versions
    left join last_scans
        on versions.repository_id = last_scans.repository_id
    where versions.is_current
)

select * from final
{%- else %}
{%- set raw = pixee_raw_relation('repositories') %}
{%- set columns = pixee_raw_columns(raw) %}
with source as (
    select * from {{ pixee_from(raw) }}
),

renamed as (
    select
{{ pixee_stg_repository_columns(columns) }},
        {{ pixee_column(columns, '_deleted_at', dbt.type_timestamp()) }} as deleted_at
    from source
)

select * from renamed
{%- endif %}
