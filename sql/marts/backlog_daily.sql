-- One row per (day, repository, severity): the open backlog at the end of each day, by age and SLA.
-- Built from events, not per-day lookups: each finding opens and closes intervals of days in which it
-- counts toward a measure; a running sum over the days of each (repository, severity) gives the
-- backlog, so the cost grows with findings + output rows, not with their product.
-- Days are counted as day numbers (days since 1970-01-01) so that adding a column of SLA days is
-- integer arithmetic, which every engine does alike.
with findings as (
    select * from pixee_marts_staging.stg_findings
),

sla_policy as (
    select * from pixee_marts.sla_policy
),

calendar as (
    select * from pixee_marts.calendar
),

marts_build as (
    select * from pixee_marts.marts_build
),

-- a finding is open at the end of day D for D in [detected_day, closed_day)
finding_days as (
    select
        findings.repository_id,
        coalesce(findings.severity, 'unknown') as severity,
        sla_policy.sla_days,
        date_diff('day', date '1970-01-01', cast(findings.detected_at as date)) as detected_day,
        date_diff('day', date '1970-01-01', cast(findings.resolved_at as date)) as resolved_day,
        case
            when findings.resolved_at is null then null
            when findings.resolved_at < findings.detected_at
                then date_diff('day', date '1970-01-01', cast(findings.detected_at as date))
            else date_diff('day', date '1970-01-01', cast(findings.resolved_at as date))
        end as closed_day,
        case when findings.classification = 'TRUE_POSITIVE' then 1 else 0 end as is_true_positive,
        case when findings.classification is null then 1 else 0 end as is_untriaged
    from findings
    left join sla_policy
        on coalesce(findings.severity, 'unknown') = sla_policy.severity
    where findings.detected_at is not null
),

-- findings that share every day they change on behave as one: collapse them first
finding_groups as (
    select
        repository_id,
        severity,
        sla_days,
        detected_day,
        resolved_day,
        closed_day,
        count(*) as findings,
        sum(is_true_positive) as true_positive,
        sum(is_untriaged) as untriaged
    from finding_days
    group by repository_id, severity, sla_days, detected_day, resolved_day, closed_day
),

-- the measures that follow a finding's age: counted on days detected_day + [from_age, to_age)
age_measures as (
    select * from (
        values
            ('age_0_7', 0, 8),
            ('age_8_30', 8, 31),
            ('age_31_90', 31, 91),
            ('age_over_90', 91, cast(null as integer)),
            ('open', 0, cast(null as integer))
    ) as measures (measure, from_age, to_age)
),

-- [start_day, end_day) in which a group counts toward a measure; end_day null: open through as-of
measure_intervals as (
    select
        finding_groups.repository_id,
        finding_groups.severity,
        age_measures.measure,
        finding_groups.detected_day + age_measures.from_age as start_day,
        case
            when age_measures.to_age is null then finding_groups.closed_day
            when finding_groups.closed_day is null
                or finding_groups.closed_day > finding_groups.detected_day + age_measures.to_age
                then finding_groups.detected_day + age_measures.to_age
            else finding_groups.closed_day
        end as end_day,
        finding_groups.findings,
        finding_groups.true_positive,
        finding_groups.untriaged
    from finding_groups
    cross join age_measures
    union all
    select
        repository_id, severity, 'over_sla' as measure,
        detected_day + sla_days + 1 as start_day, closed_day as end_day,
        findings, true_positive, untriaged
    from finding_groups
    where sla_days is not null
),

non_empty_intervals as (
    select * from measure_intervals
    where end_day is null or start_day < end_day
),

-- +n where an interval starts, -n where it ends; opened and resolved are per-day counts, not running
measure_events as (
    select
        repository_id, severity, measure, start_day as day,
        findings as delta, true_positive as true_positive_delta, untriaged as untriaged_delta
    from non_empty_intervals
    union all
    select
        repository_id, severity, measure, end_day as day,
        -findings as delta, -true_positive as true_positive_delta, -untriaged as untriaged_delta
    from non_empty_intervals
    where end_day is not null
    union all
    select
        repository_id, severity, 'opened' as measure, detected_day as day,
        findings as delta, 0 as true_positive_delta, 0 as untriaged_delta
    from finding_groups
    union all
    select
        repository_id, severity, 'resolved' as measure, resolved_day as day,
        findings as delta, 0 as true_positive_delta, 0 as untriaged_delta
    from finding_groups
    where resolved_day is not null
),

daily_changes as (
    select
        repository_id,
        severity,
        day,
        cast(sum(case when measure = 'open' then delta else 0 end) as double) as open_change,
        cast(sum(case when measure = 'open' then true_positive_delta else 0 end) as double) as open_true_positive_change,
        cast(sum(case when measure = 'open' then untriaged_delta else 0 end) as double) as open_untriaged_change,
        cast(sum(case when measure = 'over_sla' then delta else 0 end) as double) as open_over_sla_change,
        cast(sum(case when measure = 'age_0_7' then delta else 0 end) as double) as open_age_0_7_change,
        cast(sum(case when measure = 'age_8_30' then delta else 0 end) as double) as open_age_8_30_change,
        cast(sum(case when measure = 'age_31_90' then delta else 0 end) as double) as open_age_31_90_change,
        cast(sum(case when measure = 'age_over_90' then delta else 0 end) as double) as open_age_over_90_change,
        cast(sum(case when measure = 'opened' then delta else 0 end) as double) as opened,
        cast(sum(case when measure = 'resolved' then delta else 0 end) as double) as resolved
    from measure_events
    group by repository_id, severity, day
),

-- every day from the pair's first detection through the as-of date
pair_first_days as (
    select
        repository_id,
        severity,
        min(detected_day) as first_day
    from finding_groups
    group by repository_id, severity
),

day_spine as (
    select
        calendar.day,
        date_diff('day', date '1970-01-01', calendar.day) as day_number,
        pair_first_days.repository_id,
        pair_first_days.severity
    from pair_first_days
    inner join calendar
        on date_diff('day', date '1970-01-01', calendar.day) >= pair_first_days.first_day
    inner join marts_build
        on calendar.day <= marts_build.as_of
),

final as (
    select
        day_spine.day,
        day_spine.repository_id,
        day_spine.severity,
        cast(sum(coalesce(daily_changes.open_change, 0)) over (
            partition by day_spine.repository_id, day_spine.severity order by day_spine.day_number
            rows between unbounded preceding and current row
        ) as bigint) as open_findings,
        cast(sum(coalesce(daily_changes.open_true_positive_change, 0)) over (
            partition by day_spine.repository_id, day_spine.severity order by day_spine.day_number
            rows between unbounded preceding and current row
        ) as bigint) as open_true_positive,
        cast(sum(coalesce(daily_changes.open_untriaged_change, 0)) over (
            partition by day_spine.repository_id, day_spine.severity order by day_spine.day_number
            rows between unbounded preceding and current row
        ) as bigint) as open_untriaged,
        cast(coalesce(daily_changes.opened, 0) as bigint) as opened,
        cast(coalesce(daily_changes.resolved, 0) as bigint) as resolved,
        cast(sum(coalesce(daily_changes.open_over_sla_change, 0)) over (
            partition by day_spine.repository_id, day_spine.severity order by day_spine.day_number
            rows between unbounded preceding and current row
        ) as bigint) as open_over_sla,
        cast(sum(coalesce(daily_changes.open_age_0_7_change, 0)) over (
            partition by day_spine.repository_id, day_spine.severity order by day_spine.day_number
            rows between unbounded preceding and current row
        ) as bigint) as open_age_0_7,
        cast(sum(coalesce(daily_changes.open_age_8_30_change, 0)) over (
            partition by day_spine.repository_id, day_spine.severity order by day_spine.day_number
            rows between unbounded preceding and current row
        ) as bigint) as open_age_8_30,
        cast(sum(coalesce(daily_changes.open_age_31_90_change, 0)) over (
            partition by day_spine.repository_id, day_spine.severity order by day_spine.day_number
            rows between unbounded preceding and current row
        ) as bigint) as open_age_31_90,
        cast(sum(coalesce(daily_changes.open_age_over_90_change, 0)) over (
            partition by day_spine.repository_id, day_spine.severity order by day_spine.day_number
            rows between unbounded preceding and current row
        ) as bigint) as open_age_over_90
    from day_spine
    left join daily_changes
        on day_spine.repository_id = daily_changes.repository_id
        and day_spine.severity = daily_changes.severity
        and day_spine.day_number = daily_changes.day
)

select * from final
