-- Every observed version of every finding, and the days on which it is the finding's state: the
-- state at the end of day D is the latest version with updated_at < D + 1 day, and the earliest
-- version for days before it; so a version holds for valid_from_day <= D < valid_to_day (day
-- numbers). Without history each finding has one version, its current row, holding for all days.
with findings as (
    select * from {{ ref('stg_pixee__findings') }}
),

findings_history as (
    select * from {{ ref('stg_pixee__findings_history') }}
),

repositories as (
    select * from {{ ref('stg_pixee__repositories') }}
),

{#- finding_key identifies a finding within the source (v1: its id; platform: repository/detector/id) #}
{%- set columns = 'finding_id, finding_key, repository_id, rule_id, detection_tool, severity, cwe, classification, '
                 ~ 'status, triage_suggested, detected_at, triaged_at, resolved_at, updated_at' %}
{%- if pixee_has_history('findings') %}

-- the current row is also the newest version: a history row repeating it is left out
observed as (
    select {{ columns }}
    from findings_history
    where not exists (
        select 1
        from findings
        where findings.finding_key = findings_history.finding_key
            and findings.updated_at = findings_history.updated_at
    )
    union all
    select {{ columns }}
    from findings
),

ordered_versions as (
    select
        observed.*,
        row_number() over (partition by finding_key order by updated_at) as version_number,
        lead(updated_at) over (partition by finding_key order by updated_at) as next_updated_at,
        -- reopenings up to and including this version: fixed or dismissed, then open again
        case when lag(status) over (partition by finding_key order by updated_at) in ('fixed', 'dismissed')
            and status = 'open' then 1 else 0 end as is_reopening
    from observed
),

versions as (
    select
        ordered_versions.*,
        sum(is_reopening) over (
            partition by finding_key order by updated_at rows between unbounded preceding and current row
        ) as times_reopened
    from ordered_versions
),
{%- else %}

-- no history: one version per finding, its current row, holding for every day
versions as (
    select
        {{ columns }},
        1 as version_number,
        cast(null as {{ dbt.type_timestamp() }}) as next_updated_at,
        0 as times_reopened
    from findings
),
{%- endif %}

-- deleted: the finding or its repository, as far as the as-of date sees (no _deleted_at: nothing)
{%- if pixee_raw_has_column('findings', '_deleted_at') or pixee_raw_has_column('repositories', '_deleted_at') %}
deletions as (
    select
        findings.finding_key,
        case
            when findings.deleted_at < {{ pixee_as_of_end() }}
                and (repositories.deleted_at is null or findings.deleted_at <= repositories.deleted_at)
                then findings.deleted_at
            when repositories.deleted_at < {{ pixee_as_of_end() }} then repositories.deleted_at
        end as deleted_at
    from findings
    left join repositories
        on findings.repository_id = repositories.repository_id
),
{%- else %}
deletions as (
    select finding_key, cast(null as {{ dbt.type_timestamp() }}) as deleted_at
    from findings
    where 1 = 0
),
{%- endif %}

final as (
    select
        versions.finding_id,
        versions.finding_key,
        versions.repository_id,
        versions.rule_id,
        versions.detection_tool,
        versions.severity,
        versions.cwe,
        versions.classification,
        versions.status,
        versions.triage_suggested,
        versions.detected_at,
        versions.triaged_at,
        versions.resolved_at,
        versions.updated_at,
        versions.version_number,
        case when versions.version_number = 1 then -10000000
            else {{ pixee_day_number('versions.updated_at') }}
        end as valid_from_day,
        case when versions.next_updated_at is null then 10000000
            else {{ pixee_day_number('versions.next_updated_at') }}
        end as valid_to_day,
        versions.times_reopened,
        deletions.deleted_at,
        coalesce({{ pixee_day_number('deletions.deleted_at') }}, 10000000) as deleted_day
    from versions
    left join deletions
        on versions.finding_key = deletions.finding_key
)

select * from final
