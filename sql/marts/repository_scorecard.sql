-- One row per repository as of the as-of date: backlog, triage outcomes, fixes and PRs, remediation time.
with repositories as (
    select * from pixee_marts_staging.stg_repositories
),

findings as (
    select * from pixee_marts_staging.stg_findings
),

fixes as (
    select * from pixee_marts_staging.stg_fixes
),

backlog_daily as (
    select * from pixee_marts.backlog_daily
),

fix_latency as (
    select * from pixee_marts.fix_latency
),

marts_build as (
    select * from pixee_marts.marts_build
),

-- the backlog at the end of the as-of date, the same numbers backlog_daily shows for that day
open_backlog as (
    select
        backlog_daily.repository_id,
        sum(backlog_daily.open_findings) as open_findings,
        sum(case when backlog_daily.severity = 'critical' then backlog_daily.open_findings else 0 end)
            as open_critical,
        sum(case when backlog_daily.severity = 'high' then backlog_daily.open_findings else 0 end)
            as open_high,
        sum(backlog_daily.open_over_sla) as open_over_sla
    from backlog_daily
    inner join marts_build
        on backlog_daily.day = marts_build.as_of
    group by backlog_daily.repository_id
),

triage_counts as (
    select
        repository_id,
        count(*) as findings_total,
        count(classification) as triaged,
        sum(case when classification = 'TRUE_POSITIVE' then 1 else 0 end) as true_positive,
        sum(case when classification = 'FALSE_POSITIVE' then 1 else 0 end) as false_positive,
        sum(case when classification = 'WONT_FIX' then 1 else 0 end) as wont_fix
    from findings
    group by repository_id
),

fix_counts as (
    select
        repository_id,
        count(*) as fixes_generated,
        count(pr_opened_at) as prs_opened,
        sum(case when status = 'merged' then 1 else 0 end) as prs_merged,
        sum(case when status = 'closed' then 1 else 0 end) as prs_closed_unmerged,
        sum(case when status = 'pr_open' then 1 else 0 end) as open_prs
    from fixes
    group by repository_id
),

remediation_times as (
    select
        repository_id,
        quantile_cont(hours_detect_to_merge, 0.5) as p50_hours_detect_to_merge,
        avg(hours_detect_to_merge) as mean_hours_detect_to_merge
    from fix_latency
    where hours_detect_to_merge is not null
    group by repository_id
),

scorecard_counts as (
    select
        repositories.repository_id,
        repositories.repository_name,
        repositories.last_scan_at,
        cast(coalesce(open_backlog.open_findings, 0) as bigint) as open_findings,
        cast(coalesce(open_backlog.open_critical, 0) as bigint) as open_critical,
        cast(coalesce(open_backlog.open_high, 0) as bigint) as open_high,
        cast(coalesce(open_backlog.open_over_sla, 0) as bigint) as open_over_sla,
        cast(coalesce(triage_counts.findings_total, 0) as bigint) as findings_total,
        cast(coalesce(triage_counts.triaged, 0) as bigint) as triaged,
        cast(coalesce(triage_counts.true_positive, 0) as bigint) as true_positive,
        cast(coalesce(triage_counts.false_positive, 0) as bigint) as false_positive,
        cast(coalesce(triage_counts.wont_fix, 0) as bigint) as wont_fix,
        cast(coalesce(fix_counts.fixes_generated, 0) as bigint) as fixes_generated,
        cast(coalesce(fix_counts.prs_opened, 0) as bigint) as prs_opened,
        cast(coalesce(fix_counts.prs_merged, 0) as bigint) as prs_merged,
        cast(coalesce(fix_counts.prs_closed_unmerged, 0) as bigint) as prs_closed_unmerged,
        cast(coalesce(fix_counts.open_prs, 0) as bigint) as open_prs,
        remediation_times.p50_hours_detect_to_merge,
        remediation_times.mean_hours_detect_to_merge
    from repositories
    left join open_backlog
        on repositories.repository_id = open_backlog.repository_id
    left join triage_counts
        on repositories.repository_id = triage_counts.repository_id
    left join fix_counts
        on repositories.repository_id = fix_counts.repository_id
    left join remediation_times
        on repositories.repository_id = remediation_times.repository_id
),

-- a ratio whose denominator is 0 is NULL
final as (
    select
        repository_id,
        repository_name,
        last_scan_at,
        open_findings,
        open_critical,
        open_high,
        open_over_sla,
        findings_total,
        triaged,
        true_positive,
        false_positive,
        wont_fix,
        case when findings_total > 0 then cast(triaged as double) / findings_total end as triage_coverage,
        case when triaged > 0 then cast(false_positive as double) / triaged end as false_positive_rate,
        fixes_generated,
        prs_opened,
        prs_merged,
        prs_closed_unmerged,
        open_prs,
        case
            when prs_merged + prs_closed_unmerged > 0
                then cast(prs_merged as double) / (prs_merged + prs_closed_unmerged)
        end as merge_rate,
        p50_hours_detect_to_merge,
        mean_hours_detect_to_merge
    from scorecard_counts
)

select * from final
