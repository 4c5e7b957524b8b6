-- Platform source: every observed version of every patch (patches_history plus the current row), as
-- a fix: merged_at / closed_at are the updated_at of the first observed version whose merge_state is
-- merged / closed (the API names no merge time), pr_opened_at its created_at once it has a PR, and
-- detection_tool the detector of its scan (NULL when the warehouse never read that scan).
{{ config(enabled=pixee_is_platform()) }}
{%- set current_raw = pixee_raw_relation('patches') %}
{%- set history_raw = pixee_raw_relation('patches_history') %}
{%- set current_columns = pixee_raw_columns(current_raw) %}
{%- set history_columns = pixee_raw_columns(history_raw) %}
{%- set names = [('id', 'fix_id', dbt.type_string()), ('repository_id', 'repository_id', dbt.type_string()),
                 ('scan_id', 'scan_id', dbt.type_string()), ('finding_id', 'finding_id', dbt.type_string()),
                 ('state', 'state', dbt.type_string()), ('merge_state', 'merge_state', dbt.type_string()),
                 ('html_url', 'pr_url', dbt.type_string()), ('pr_number', 'pr_number', dbt.type_bigint()),
                 ('created_at', 'generated_at', dbt.type_timestamp()),
                 ('updated_at', 'updated_at', dbt.type_timestamp())] %}
with scans as (
    select * from {{ ref('stg_pixee__platform_scans') }}
),

current_rows as (
    select
        {%- for raw_name, name, type in names %}
        {{ pixee_column(current_columns, raw_name, type) }} as {{ name }},
        {%- endfor %}
        0 as preference
    from {{ pixee_from(current_raw) }}
),

history_rows as (
    select
        {%- for raw_name, name, type in names %}
        {{ pixee_column(history_columns, raw_name, type) }} as {{ name }},
        {%- endfor %}
        1 as preference
    from {{ pixee_from(history_raw) }}
),

-- one row per (patch, updated_at): the current row wins over a history row repeating it
observed as (
    select * from (
        select
            unioned.*,
            row_number() over (partition by fix_id, updated_at order by preference) as repeat_number
        from (
            select * from current_rows
            union all
            select * from history_rows
        ) as unioned
    ) as numbered
    where repeat_number = 1
),

{%- set running = 'over (partition by fix_id order by updated_at rows between unbounded preceding and current row)' %}

steps as (
    select
        observed.*,
        min(case when merge_state = 'merged' then updated_at end) {{ running }} as merged_at,
        min(case when merge_state = 'closed' then updated_at end) {{ running }} as closed_at,
        case when pr_number is not null then generated_at end as pr_opened_at,
        row_number() over (partition by fix_id order by updated_at desc) as newest_first
    from observed
),

final as (
    select
        steps.fix_id,
        steps.repository_id,
        steps.scan_id,
        steps.finding_id,
        cast(null as {{ dbt.type_string() }}) as codemod,
        scans.detector as detection_tool,
        cast(null as {{ dbt.type_string() }}) as summary,
        case
            when steps.merged_at is not null then 'merged'
            when steps.closed_at is not null then 'closed'
            when steps.pr_opened_at is not null then 'pr_open'
            else 'generated'
        end as status,
        steps.pr_url,
        cast(null as {{ dbt.type_boolean() }}) as ai_generated,
        cast(null as {{ dbt.type_bigint() }}) as files_changed,
        steps.pr_number,
        steps.generated_at,
        steps.pr_opened_at,
        steps.merged_at,
        steps.closed_at,
        steps.updated_at,
        steps.newest_first = 1 as is_current
    from steps
    left join scans
        on steps.scan_id = scans.scan_id
)

select * from final
