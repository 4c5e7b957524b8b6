-- One row per finding, typed and renamed from the raw `findings` table (its latest observed state).
{%- if pixee_is_platform() %}
-- platform: the finding's latest state (stg_pixee__platform_finding_versions); a platform finding is
-- never deleted on its own, only with its repository
with versions as (
    select * from {{ ref('stg_pixee__platform_finding_versions') }}
),

latest as (
    select
        versions.*,
        row_number() over (partition by finding_key order by updated_at desc) as newest_first
    from versions
),

final as (
    select
        finding_id, finding_key, repository_id, scan_id, rule_id, detection_tool, title, severity, cwe, path,
        triage_status, classification, status, triage_suggested, start_line, confidence, detected_at,
        triaged_at, resolved_at, created_at, updated_at,
        cast(null as {{ dbt.type_timestamp() }}) as deleted_at
    from latest
    where newest_first = 1
)

select * from final
{%- else %}
{%- set raw = pixee_raw_relation('findings') %}
{%- set columns = pixee_raw_columns(raw) %}
with source as (
    select * from {{ pixee_from(raw) }}
),

renamed as (
    select
{{ pixee_stg_finding_columns(columns) }},
        -- set when a complete read no longer found it (NULL without the column: nothing deleted)
        {{ pixee_column(columns, '_deleted_at', dbt.type_timestamp()) }} as deleted_at
    from source
)

select * from renamed
{%- endif %}
