-- Platform source: every observed version of every repository (repositories_history plus the current
-- row). Repositories carry no updated_at: a version holds from the run that first read it
-- (observed_at), which plays the part of updated_at. repository_name is full_name, else name.
{{ config(enabled=pixee_is_platform()) }}
{%- set current_raw = pixee_raw_relation('repositories') %}
{%- set history_raw = pixee_raw_relation('repositories_history') %}
{%- set sources = [(current_raw, pixee_raw_columns(current_raw)), (history_raw, pixee_raw_columns(history_raw))] %}
with
{%- for raw, columns in sources %}
{{ 'current_rows' if loop.first else 'history_rows' }} as (
    select
        {{ pixee_column(columns, 'id', dbt.type_string()) }} as repository_id,
        coalesce(
            {{ pixee_column(columns, 'full_name', dbt.type_string()) }},
            {{ pixee_column(columns, 'name', dbt.type_string()) }}
        ) as repository_name,
        {{ pixee_column(columns, 'full_name', dbt.type_string()) }} as full_name,
        {{ pixee_column(columns, 'default_branch', dbt.type_string()) }} as default_branch,
        {{ pixee_column(columns, 'type', dbt.type_string()) }} as scm,
        {{ pixee_column(columns, 'created_at', dbt.type_timestamp()) }} as created_at,
        {{ pixee_column(columns, '_version', dbt.type_string()) }} as version_hash,
        {{ pixee_column(columns, '_deleted_at', dbt.type_timestamp()) }} as deleted_at,
        {{ pixee_column(columns, 'observed_at', dbt.type_timestamp()) }} as observed_at
    from {{ pixee_from(raw) }}
),
{%- endfor %}

first_observed as (
    select repository_id, version_hash, min(observed_at) as observed_at
    from history_rows
    group by repository_id, version_hash
),

final as (
    -- the current row holds from the run that first read its version (NULL without history)
    select
        current_rows.repository_id, current_rows.repository_name, current_rows.full_name,
        current_rows.default_branch, current_rows.scm, current_rows.created_at, current_rows.version_hash,
        current_rows.deleted_at, first_observed.observed_at as updated_at, true as is_current
    from current_rows
    left join first_observed
        on current_rows.repository_id = first_observed.repository_id
        and current_rows.version_hash = first_observed.version_hash
    union all
    select
        repository_id, repository_name, full_name, default_branch, scm, created_at, version_hash,
        cast(null as {{ dbt.type_timestamp() }}) as deleted_at, observed_at as updated_at, false as is_current
    from history_rows
)

select * from final
