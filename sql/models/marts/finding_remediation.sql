-- One row per finding detected before the end of the as-of date, read from its state at the end of
-- that date: how it was resolved, how long that took, its SLA, and how often it was reopened.
with findings as (
    select * from {{ ref('int_pixee__finding_states') }}
),

repositories as (
    select * from {{ ref('stg_pixee__repositories') }}
),

fix_states as (
    select * from {{ ref('int_pixee__fix_states') }}
),

fix_finding_ids as (
    select * from {{ ref('stg_pixee__fix_finding_ids') }}
),

sla_policy as (
    select * from {{ ref('sla_policy') }}
),

-- the merged fix that lists each finding; the earliest merge when several do
merged_fixes as (
    select finding_key, fix_id
    from (
        select
            fix_finding_ids.finding_key,
            fix_states.fix_id,
            row_number() over (
                partition by fix_finding_ids.finding_key
                order by fix_states.merged_at, fix_states.fix_id
            ) as merge_order
        from fix_states
        inner join fix_finding_ids
            on fix_states.fix_row_key = fix_finding_ids.fix_row_key
        where fix_states.status = 'merged'
    ) as ordered
    where merge_order = 1
),

resolutions as (
    select
        findings.*,
        repositories.repository_name,
        findings.deleted_at is not null as is_deleted,
        merged_fixes.fix_id,
        case
            when findings.status = 'fixed' and merged_fixes.fix_id is not null then 'fixed_by_pixee'
            when findings.status = 'fixed' then 'fixed'
            when findings.status = 'dismissed' and findings.classification = 'FALSE_POSITIVE'
                then 'false_positive'
            when findings.status = 'dismissed' then 'wont_fix'
        end as resolution,
        sla_policy.sla_days,
        {{ pixee_add_days('findings.detected_at', 'sla_policy.sla_days') }} as due_at
    from findings
    left join repositories
        on findings.repository_id = repositories.repository_id
    left join merged_fixes
        on findings.finding_key = merged_fixes.finding_key
    left join sla_policy
        on findings.severity = sla_policy.severity
),

-- a closure is a resolution other than a false positive, of a finding not deleted
closures as (
    select
        resolutions.*,
        resolution is not null and resolution <> 'false_positive' and not is_deleted as is_closure,
        detected_at < {{ pixee_as_of_end() }}
            and (resolved_at is null or resolved_at >= {{ pixee_as_of_end() }})
            and not is_deleted as is_open
    from resolutions
),

final as (
    select
        finding_id,
        repository_id,
        repository_name,
        detection_tool,
        rule_id,
        cwe,
        severity,
        classification,
        status,
        is_deleted,
        detected_at,
        triaged_at,
        resolved_at,
        resolution,
        fix_id,
        {{ pixee_hours_between('detected_at', 'triaged_at') }} as hours_to_triage,
        case when is_closure then {{ pixee_hours_between('detected_at', 'resolved_at') }} end
            as hours_to_resolve,
        sla_days,
        due_at,
        case when is_closure and due_at is not null then resolved_at <= due_at end as within_sla,
        case
            when is_open and sla_days is not null
                then cast(greatest(
                    0,
                    {{ pixee_as_of_day_number() }} - {{ pixee_day_number('detected_at') }} - sla_days
                ) as bigint)
        end as days_overdue,
        cast(times_reopened as bigint) as times_reopened,
        -- last, so that the v1 columns keep their places
        triage_suggested
    from closures
)

select * from final
