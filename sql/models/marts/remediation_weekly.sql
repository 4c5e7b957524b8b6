-- One row per (week, severity), every Monday from the week of the first detection through the week of
-- the as-of date, zeros included: findings opened, closed and dismissed as false positives, time to
-- remediate, SLA attainment, and the backlog at the end of the week.
with finding_remediation as (
    select * from {{ ref('finding_remediation') }}
),

backlog_days as (
    select * from {{ ref('int_pixee__backlog_days') }}
),

calendar as (
    select * from {{ ref('int_pixee__calendar') }}
),

severities as (
    select * from (values ('critical'), ('high'), ('medium'), ('low')) as severity (severity)
),

first_detection as (
    select min({{ pixee_day_number('detected_at') }}) as day_number
    from finding_remediation
),

weeks as (
    select distinct {{ pixee_week_start('calendar.day') }} as week_start
    from calendar
    inner join first_detection
        on calendar.day_number >= first_detection.day_number
),

week_severities as (
    select
        weeks.week_start,
        severities.severity,
        -- the week's Sunday, or the as-of date when that is earlier
        least(
            {{ pixee_day_number('weeks.week_start') }} + 6, {{ pixee_as_of_day_number() }}
        ) as last_day_number
    from weeks
    cross join severities
),

opened as (
    select
        {{ pixee_week_start('detected_at') }} as week_start,
        severity,
        count(*) as opened
    from finding_remediation
    group by {{ pixee_week_start('detected_at') }}, severity
),

resolved as (
    select
        {{ pixee_week_start('resolved_at') }} as week_start,
        severity,
        sum(case when hours_to_resolve is not null then 1 else 0 end) as closed,
        sum(case when resolution = 'false_positive' and not is_deleted then 1 else 0 end) as false_positives,
        {{ pixee_percentile('hours_to_resolve', 0.5) }} as p50_hours_to_resolve,
        {{ pixee_percentile('hours_to_resolve', 0.9) }} as p90_hours_to_resolve,
        avg(hours_to_resolve) as mean_hours_to_resolve,
        sum(case when within_sla then 1 else 0 end) as closed_within_sla
    from finding_remediation
    where resolved_at is not null
    group by {{ pixee_week_start('resolved_at') }}, severity
),

open_at_end as (
    select
        week_severities.week_start,
        week_severities.severity,
        sum(backlog_days.open_findings) as open_findings,
        sum(backlog_days.open_findings) * max(week_severities.last_day_number)
            - sum(backlog_days.open_detected_day_sum) as open_age_days
    from week_severities
    inner join backlog_days
        on week_severities.severity = backlog_days.severity
        and week_severities.last_day_number = backlog_days.day_number
    group by week_severities.week_start, week_severities.severity
),

final as (
    select
        week_severities.week_start,
        week_severities.severity,
        cast(coalesce(opened.opened, 0) as bigint) as opened,
        cast(coalesce(resolved.closed, 0) as bigint) as closed,
        cast(coalesce(resolved.false_positives, 0) as bigint) as false_positives,
        case when opened.opened > 0 then cast(coalesce(resolved.closed, 0) as double) / opened.opened end
            as net_resolve_rate,
        resolved.p50_hours_to_resolve,
        resolved.p90_hours_to_resolve,
        resolved.mean_hours_to_resolve,
        case when resolved.closed > 0 then cast(resolved.closed_within_sla as double) / resolved.closed end
            as sla_attainment,
        cast(coalesce(open_at_end.open_findings, 0) as bigint) as open_at_week_end,
        case when open_at_end.open_findings > 0
            then cast(open_at_end.open_age_days as double) / open_at_end.open_findings
        end as mean_open_age_days
    from week_severities
    left join opened
        on week_severities.week_start = opened.week_start
        and week_severities.severity = opened.severity
    left join resolved
        on week_severities.week_start = resolved.week_start
        and week_severities.severity = resolved.severity
    left join open_at_end
        on week_severities.week_start = open_at_end.week_start
        and week_severities.severity = open_at_end.severity
)

select * from final
