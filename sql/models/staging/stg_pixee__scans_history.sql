-- One row per observed version of a scan, from `scans_history`; empty without history.
{%- if pixee_is_platform() %}
-- platform: one row per observed version of a scan, holding from the run that first read it
{%- set raw = pixee_raw_relation('scans_history') %}
{%- set columns = pixee_raw_columns(raw) %}
with source as (
    select * from {{ pixee_from(raw) }}
),

renamed as (
    select
        {{ pixee_column(columns, 'id', dbt.type_string()) }} as scan_id,
        {{ pixee_column(columns, 'repository_id', dbt.type_string()) }} as repository_id,
        {{ pixee_column(columns, 'detector', dbt.type_string()) }} as detection_tool,
        {{ pixee_column(columns, 'branch', dbt.type_string()) }} as branch,
        {{ pixee_column(columns, 'sha', dbt.type_string()) }} as commit_sha,
        {{ pixee_column(columns, 'imported_at', dbt.type_timestamp()) }} as created_at,
        {{ pixee_column(columns, 'observed_at', dbt.type_timestamp()) }} as updated_at,
        {{ pixee_column(columns, 'observed_at', dbt.type_timestamp()) }} as observed_at
    from source
),

final as (
    select
        renamed.*,
        renamed.updated_at as valid_from,
        lead(renamed.updated_at) over (partition by renamed.scan_id order by renamed.updated_at) as valid_to
    from renamed
)

select * from final
{%- else %}
{{ pixee_stg_history('scans', 'scan_id') }}
{%- endif %}
