-- One row per repository not deleted by the end of the as-of date: its state at the end of that date.
with repositories as (
    select * from {{ ref('stg_pixee__repositories') }}
),

repositories_history as (
    select * from {{ ref('stg_pixee__repositories_history') }}
),

{%- if pixee_has_history('repositories') %}
observed as (
    select repository_id, repository_name, last_scan_at, updated_at, 1 as preference
    from repositories_history
    union all
    select repository_id, repository_name, last_scan_at, updated_at, 0 as preference
    from repositories
),

ranked as (
    select
        observed.*,
        row_number() over (
            partition by repository_id
            order by {{ pixee_state_order() }}, preference
        ) as state_rank
    from observed
),
{%- else %}

-- no history: the state is the current row
ranked as (
    select
        repository_id,
        repository_name,
        last_scan_at,
        updated_at,
        1 as state_rank
    from repositories
),

{%- endif %}

{%- if pixee_is_platform() %}

-- platform: the newest imported_at of its scans before the end of the as-of date (every branch,
-- expired ones included); the repository object itself has no such field
last_scans as (
    select repository_id, max(imported_at) as last_scan_at
    from {{ ref('stg_pixee__platform_scans') }}
    where imported_at < {{ pixee_as_of_end() }}
    group by repository_id
),
{%- endif %}

final as (
    select
        ranked.repository_id,
        ranked.repository_name,
        {{ 'last_scans.last_scan_at' if pixee_is_platform() else 'ranked.last_scan_at' }} as last_scan_at
    from ranked
    inner join repositories
        on ranked.repository_id = repositories.repository_id
    {%- if pixee_is_platform() %}
    left join last_scans
        on ranked.repository_id = last_scans.repository_id
    {%- endif %}
    where ranked.state_rank = 1
        and (repositories.deleted_at is null or repositories.deleted_at >= {{ pixee_as_of_end() }})
)

select * from final
