{#- The typed, renamed columns of a raw table, shared by its staging model and its history's:
    a history row has every column of the main table (plus observed_at), so both read alike. -#}

{% macro pixee_stg_finding_columns(columns) -%}
        -- ids
        {{ pixee_column(columns, 'id', dbt.type_string()) }} as finding_id,
        -- what identifies a finding within the source: its id (a platform finding: repository/detector/id)
        {{ pixee_column(columns, 'id', dbt.type_string()) }} as finding_key,
        {{ pixee_column(columns, 'repository_id', dbt.type_string()) }} as repository_id,
        {{ pixee_column(columns, 'scan_id', dbt.type_string()) }} as scan_id,
        -- strings
        {{ pixee_column(columns, 'rule_id', dbt.type_string()) }} as rule_id,
        {{ pixee_column(columns, 'detection_tool', dbt.type_string()) }} as detection_tool,
        {{ pixee_column(columns, 'title', dbt.type_string()) }} as title,
        {{ pixee_column(columns, 'severity', dbt.type_string()) }} as severity,
        {{ pixee_column(columns, 'cwe', dbt.type_string()) }} as cwe,
        {{ pixee_column(columns, 'path', dbt.type_string()) }} as path,
        {{ pixee_column(columns, 'triage_status', dbt.type_string()) }} as triage_status,
        {{ pixee_column(columns, 'classification', dbt.type_string()) }} as classification,
        {{ pixee_column(columns, 'status', dbt.type_string()) }} as status,
        -- the platform's latest raw triage result; the v1 API has none
        cast(null as {{ dbt.type_string() }}) as triage_suggested,
        -- numerics
        {{ pixee_column(columns, 'start_line', dbt.type_bigint()) }} as start_line,
        {{ pixee_column(columns, 'confidence', 'double') }} as confidence,
        -- timestamps (UTC)
        {{ pixee_column(columns, 'detected_at', dbt.type_timestamp()) }} as detected_at,
        {{ pixee_column(columns, 'triaged_at', dbt.type_timestamp()) }} as triaged_at,
        {{ pixee_column(columns, 'resolved_at', dbt.type_timestamp()) }} as resolved_at,
        {{ pixee_column(columns, 'created_at', dbt.type_timestamp()) }} as created_at,
        {{ pixee_column(columns, 'updated_at', dbt.type_timestamp()) }} as updated_at
{%- endmacro %}

{% macro pixee_stg_fix_columns(columns) -%}
        -- ids
        {{ pixee_column(columns, 'id', dbt.type_string()) }} as fix_id,
        {{ pixee_column(columns, 'repository_id', dbt.type_string()) }} as repository_id,
        -- strings
        {{ pixee_column(columns, 'codemod', dbt.type_string()) }} as codemod,
        {{ pixee_column(columns, 'detection_tool', dbt.type_string()) }} as detection_tool,
        {{ pixee_column(columns, 'summary', dbt.type_string()) }} as summary,
        {{ pixee_column(columns, 'status', dbt.type_string()) }} as status,
        {{ pixee_column(columns, 'pr_url', dbt.type_string()) }} as pr_url,
        -- booleans and numerics
        {{ pixee_column(columns, 'ai_generated', dbt.type_boolean()) }} as ai_generated,
        {{ pixee_column(columns, 'files_changed', dbt.type_bigint()) }} as files_changed,
        {{ pixee_column(columns, 'pr_number', dbt.type_bigint()) }} as pr_number,
        -- timestamps (UTC); created_at is the moment the fix was generated
        {{ pixee_column(columns, 'created_at', dbt.type_timestamp()) }} as generated_at,
        {{ pixee_column(columns, 'pr_opened_at', dbt.type_timestamp()) }} as pr_opened_at,
        {{ pixee_column(columns, 'merged_at', dbt.type_timestamp()) }} as merged_at,
        {{ pixee_column(columns, 'closed_at', dbt.type_timestamp()) }} as closed_at,
        {{ pixee_column(columns, 'updated_at', dbt.type_timestamp()) }} as updated_at
{%- endmacro %}

{% macro pixee_stg_repository_columns(columns) -%}
        -- ids
        {{ pixee_column(columns, 'id', dbt.type_string()) }} as repository_id,
        -- strings
        {{ pixee_column(columns, 'name', dbt.type_string()) }} as repository_name,
        {{ pixee_column(columns, 'full_name', dbt.type_string()) }} as full_name,
        {{ pixee_column(columns, 'scm', dbt.type_string()) }} as scm,
        {{ pixee_column(columns, 'default_branch', dbt.type_string()) }} as default_branch,
        {{ pixee_column(columns, 'language', dbt.type_string()) }} as language,
        -- booleans and numerics
        {{ pixee_column(columns, 'enabled', dbt.type_boolean()) }} as is_enabled,
        {{ pixee_column(columns, 'settings__auto_fix', dbt.type_boolean()) }} as auto_fix,
        {{ pixee_column(columns, 'settings__triage', dbt.type_boolean()) }} as triage_enabled,
        {{ pixee_column(columns, 'settings__max_open_prs', dbt.type_bigint()) }} as max_open_prs,
        -- timestamps (UTC)
        {{ pixee_column(columns, 'last_scan_at', dbt.type_timestamp()) }} as last_scan_at,
        {{ pixee_column(columns, 'created_at', dbt.type_timestamp()) }} as created_at,
        {{ pixee_column(columns, 'updated_at', dbt.type_timestamp()) }} as updated_at
{%- endmacro %}

{% macro pixee_stg_scan_columns(columns) -%}
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
        {{ pixee_column(columns, 'updated_at', dbt.type_timestamp()) }} as updated_at
{%- endmacro %}

{#- A history staging model: every observed version of one raw table's objects (empty without the
    history table), typed like the main table's staging model, plus observed_at, and the span in
    which each version holds: from its updated_at to the next version's (NULL: the latest). -#}
{% macro pixee_stg_history(raw_table, key) -%}
{%- set raw = pixee_raw_relation(raw_table ~ '_history') %}
{%- set columns = pixee_raw_columns(raw) %}
{%- set typed = {'repositories': pixee_stg_repository_columns, 'scans': pixee_stg_scan_columns,
                 'findings': pixee_stg_finding_columns, 'fixes': pixee_stg_fix_columns}[raw_table] %}
with source as (
    select * from {{ pixee_from(raw) }}
),

renamed as (
    select
{{ typed(columns) }},
        {{ pixee_column(columns, 'observed_at', dbt.type_timestamp()) }} as observed_at
    from source
),

versions as (
    select
        renamed.*,
        renamed.updated_at as valid_from,
        lead(renamed.updated_at) over (partition by renamed.{{ key }} order by renamed.updated_at) as valid_to
    from renamed
)

select * from versions
{%- endmacro %}

{#- A platform finding row (one finding listed by one scan), typed; severity lower-cased, `info`
    counted as `low`. Shared by the current rows and their history. -#}
{% macro pixee_stg_platform_finding_row_columns(columns) -%}
        {{ pixee_column(columns, 'scan_id', dbt.type_string()) }} as scan_id,
        {{ pixee_column(columns, 'id', dbt.type_string()) }} as finding_id,
        {{ pixee_column(columns, 'rule', dbt.type_string()) }} as rule_id,
        {{ pixee_column(columns, 'title', dbt.type_string()) }} as title,
        case lower({{ pixee_column(columns, 'severity__label', dbt.type_string()) }})
            when 'info' then 'low'
            else lower({{ pixee_column(columns, 'severity__label', dbt.type_string()) }})
        end as severity,
        {{ pixee_column(columns, 'triage__suggested', dbt.type_string()) }} as triage_suggested,
        {{ pixee_column(columns, 'triage__analyzed_at', dbt.type_timestamp()) }} as triage_analyzed_at,
        {{ pixee_column(columns, '_version', dbt.type_string()) }} as version_hash
{%- endmacro %}
