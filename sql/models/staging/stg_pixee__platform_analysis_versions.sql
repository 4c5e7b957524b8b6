-- Platform source: every observed version of every analysis (analyses_history plus the current row),
-- one per (analysis, updated_at), the current row winning over a history row repeating it.
{{ config(enabled=pixee_is_platform()) }}
{%- set current_raw = pixee_raw_relation('analyses') %}
{%- set history_raw = pixee_raw_relation('analyses_history') %}
{%- set sources = [(current_raw, pixee_raw_columns(current_raw), 0), (history_raw, pixee_raw_columns(history_raw), 1)] %}
with unioned as (
{%- for raw, columns, preference in sources %}
    select
        {{ pixee_column(columns, 'id', dbt.type_string()) }} as analysis_id,
        {{ pixee_column(columns, 'scan_id', dbt.type_string()) }} as scan_id,
        {{ pixee_column(columns, 'type', dbt.type_string()) }} as analysis_type,
        {{ pixee_column(columns, 'state', dbt.type_string()) }} as state,
        {{ pixee_column(columns, 'branch', dbt.type_string()) }} as branch,
        {{ pixee_column(columns, 'created_at', dbt.type_timestamp()) }} as created_at,
        {{ pixee_column(columns, 'updated_at', dbt.type_timestamp()) }} as updated_at,
        {{ pixee_column(columns, 'completed_at', dbt.type_timestamp()) }} as completed_at,
        {{ preference }} as preference
    from {{ pixee_from(raw) }}
    {{ 'union all' if not loop.last }}
{%- endfor %}
),

numbered as (
    select
        unioned.*,
        row_number() over (partition by analysis_id, updated_at order by preference) as repeat_number
    from unioned
),

final as (
    select analysis_id, scan_id, analysis_type, state, branch, created_at, updated_at, completed_at
    from numbered
    where repeat_number = 1
)

select * from final
