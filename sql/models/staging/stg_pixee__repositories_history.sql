-- One row per observed version of a repository, from `repositories_history`; empty without history.
{%- if pixee_is_platform() %}
-- platform: every observed version of every repository, holding from the run that first read it
with versions as (
    select * from {{ ref('stg_pixee__platform_repository_versions') }}
),

final as (
    select
        repository_id,
        repository_name,
        full_name,
        scm,
        default_branch,
        cast(null as {{ dbt.type_string() }}) as language,
        cast(null as {{ dbt.type_boolean() }}) as is_enabled,
        cast(null as {{ dbt.type_boolean() }}) as auto_fix,
        cast(null as {{ dbt.type_boolean() }}) as triage_enabled,
        cast(null as {{ dbt.type_bigint() }}) as max_open_prs,
        -- as of a day, the repository's last scan comes from its scans (int_pixee__repository_states)
        cast(null as {{ dbt.type_timestamp() }}) as last_scan_at,
        created_at,
        updated_at,
        updated_at as observed_at,
        updated_at as valid_from,
        lead(updated_at) over (partition by repository_id order by updated_at) as valid_to
    from versions
    where not is_current
)

select * from final
{%- else %}
{{ pixee_stg_history('repositories', 'repository_id') }}
{%- endif %}
