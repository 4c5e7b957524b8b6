{{ config(materialized='table') }}
-- One row per (day, repository, severity): the open backlog at the end of each day, by age and SLA,
-- each finding counted from its state at the end of that day (int_pixee__finding_versions), plus the sum of
-- the open findings' detection day numbers (their mean age follows from it).
-- Built from events, not per-day lookups: each version opens and closes intervals of days in which
-- the finding counts toward a measure; a running sum over the days of each (repository, severity)
-- gives the backlog, so the cost grows with versions + output rows, not with their product.
-- Days are day numbers (days since 1970-01-01): adding SLA days is integer arithmetic on every engine;
-- 10000000 stands for "never" (no end of an interval), -10000000 for "always" (no start).
with finding_versions as (
    select * from {{ ref('int_pixee__finding_versions') }}
),

sla_policy as (
    select * from {{ ref('sla_policy') }}
),

calendar as (
    select * from {{ ref('int_pixee__calendar') }}
),

-- a version counts toward "open" on the days D in [open_from, open_to): open by its own dates,
-- while it is the finding's state, and before the finding (or its repository) was deleted
version_days as (
    select
        finding_versions.repository_id,
        coalesce(finding_versions.severity, 'unknown') as severity,
        sla_policy.sla_days,
        {{ pixee_day_number('finding_versions.detected_at') }} as detected_day,
        {{ pixee_day_number('finding_versions.resolved_at') }} as resolved_day,
        case
            when finding_versions.resolved_at is null then 10000000
            when finding_versions.resolved_at < finding_versions.detected_at
                then {{ pixee_day_number('finding_versions.detected_at') }}
            else {{ pixee_day_number('finding_versions.resolved_at') }}
        end as closed_day,
        finding_versions.valid_from_day,
        finding_versions.valid_to_day,
        finding_versions.deleted_day,
        case when finding_versions.classification = 'TRUE_POSITIVE' then 1 else 0 end as is_true_positive,
        case when finding_versions.classification is null then 1 else 0 end as is_untriaged
    from finding_versions
    left join sla_policy
        on coalesce(finding_versions.severity, 'unknown') = sla_policy.severity
    where finding_versions.detected_at is not null
),

-- versions that share every day they change on behave as one: collapse them first
version_groups as (
    select
        repository_id,
        severity,
        sla_days,
        detected_day,
        resolved_day,
        closed_day,
        valid_from_day,
        valid_to_day,
        deleted_day,
        count(*) as findings,
        sum(is_true_positive) as true_positive,
        sum(is_untriaged) as untriaged
    from version_days
    group by
        repository_id, severity, sla_days, detected_day, resolved_day, closed_day,
        valid_from_day, valid_to_day, deleted_day
),

-- the measures that follow a finding's age: counted on days detected_day + [from_age, to_age)
age_measures as (
    select * from (
        values
            ('age_0_7', 0, 8),
            ('age_8_30', 8, 31),
            ('age_31_90', 31, 91),
            ('age_over_90', 91, 20000000),
            ('open', 0, 20000000)
    ) as measures (measure, from_age, to_age)
),

measure_bounds as (
    select
        version_groups.repository_id,
        version_groups.severity,
        age_measures.measure,
        version_groups.detected_day + age_measures.from_age as counts_from,
        version_groups.detected_day + age_measures.to_age as counts_to,
        version_groups.closed_day,
        version_groups.valid_from_day,
        version_groups.valid_to_day,
        version_groups.deleted_day,
        version_groups.detected_day,
        version_groups.findings,
        version_groups.true_positive,
        version_groups.untriaged
    from version_groups
    cross join age_measures
    union all
    select
        repository_id, severity, 'over_sla' as measure,
        detected_day + sla_days + 1 as counts_from, 20000000 as counts_to,
        closed_day, valid_from_day, valid_to_day, deleted_day, detected_day,
        findings, true_positive, untriaged
    from version_groups
    where sla_days is not null
),

-- [start_day, end_day): the measure's own days, while open, while this version is the state
measure_intervals as (
    select
        repository_id,
        severity,
        measure,
        greatest(counts_from, valid_from_day) as start_day,
        least(counts_to, closed_day, valid_to_day, deleted_day) as end_day,
        detected_day,
        findings,
        true_positive,
        untriaged
    from measure_bounds
),

non_empty_intervals as (
    select * from measure_intervals
    where start_day < end_day and start_day <= {{ pixee_as_of_day_number() }}
),

-- +n where an interval starts, -n where it ends; opened and resolved are per-day counts, not running
measure_events as (
    select
        repository_id, severity, measure, start_day as day_number,
        findings as delta, true_positive as true_positive_delta, untriaged as untriaged_delta,
        findings * detected_day as detected_day_delta
    from non_empty_intervals
    union all
    select
        repository_id, severity, measure, end_day as day_number,
        -findings as delta, -true_positive as true_positive_delta, -untriaged as untriaged_delta,
        -findings * detected_day as detected_day_delta
    from non_empty_intervals
    where end_day <= {{ pixee_as_of_day_number() }}
    union all
    -- detected on D, read from the state at the end of D
    select
        repository_id, severity, 'opened' as measure, detected_day as day_number,
        findings as delta, 0 as true_positive_delta, 0 as untriaged_delta, 0 as detected_day_delta
    from version_groups
    where valid_from_day <= detected_day and detected_day < valid_to_day
    union all
    -- resolved on D by the state at the end of D; a deleted finding never counts as resolved
    select
        repository_id, severity, 'resolved' as measure, resolved_day as day_number,
        findings as delta, 0 as true_positive_delta, 0 as untriaged_delta, 0 as detected_day_delta
    from version_groups
    where resolved_day is not null
        and valid_from_day <= resolved_day and resolved_day < valid_to_day
        and deleted_day = 10000000
),

daily_changes as (
    select
        repository_id,
        severity,
        day_number,
        sum(case when measure = 'open' then delta else 0 end) as open_change,
        sum(case when measure = 'open' then true_positive_delta else 0 end) as open_true_positive_change,
        sum(case when measure = 'open' then untriaged_delta else 0 end) as open_untriaged_change,
        sum(case when measure = 'open' then detected_day_delta else 0 end) as open_detected_day_change,
        sum(case when measure = 'over_sla' then delta else 0 end) as open_over_sla_change,
        sum(case when measure = 'age_0_7' then delta else 0 end) as open_age_0_7_change,
        sum(case when measure = 'age_8_30' then delta else 0 end) as open_age_8_30_change,
        sum(case when measure = 'age_31_90' then delta else 0 end) as open_age_31_90_change,
        sum(case when measure = 'age_over_90' then delta else 0 end) as open_age_over_90_change,
        sum(case when measure = 'opened' then delta else 0 end) as opened,
        sum(case when measure = 'resolved' then delta else 0 end) as resolved
    from measure_events
    group by repository_id, severity, day_number
),

-- every day from the pair's first detection through the as-of date
pair_first_days as (
    select
        repository_id,
        severity,
        min(detected_day) as first_day
    from version_groups
    group by repository_id, severity
),

day_spine as (
    select
        calendar.day,
        calendar.day_number,
        pair_first_days.repository_id,
        pair_first_days.severity
    from pair_first_days
    inner join calendar
        on calendar.day_number >= pair_first_days.first_day
),

{%- set running = "over (partition by day_spine.repository_id, day_spine.severity order by day_spine.day_number rows between unbounded preceding and current row)" %}

final as (
    select
        day_spine.day,
        day_spine.day_number,
        day_spine.repository_id,
        day_spine.severity,
        {%- for measure in ['open', 'open_true_positive', 'open_untriaged', 'open_detected_day', 'open_over_sla',
                            'open_age_0_7', 'open_age_8_30', 'open_age_31_90', 'open_age_over_90'] %}
        cast(sum(coalesce(daily_changes.{{ measure }}_change, 0)) {{ running }} as bigint)
            as {{ 'open_findings' if measure == 'open' else measure ~ ('_sum' if measure == 'open_detected_day' else '') }},
        {%- endfor %}
        cast(coalesce(daily_changes.opened, 0) as bigint) as opened,
        cast(coalesce(daily_changes.resolved, 0) as bigint) as resolved
    from day_spine
    left join daily_changes
        on day_spine.repository_id = daily_changes.repository_id
        and day_spine.severity = daily_changes.severity
        and day_spine.day_number = daily_changes.day_number
)

select * from final
