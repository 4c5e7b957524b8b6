-- One row per (week of merge, severity) with at least one merged fix: remediation-time percentiles.
with fix_latency as (
    select * from {{ ref('fix_latency') }}
),

merged_fixes as (
    select
        {{ pixee_week_start('merged_at') }} as week_start,
        coalesce(severity, 'unknown') as severity,
        hours_detect_to_merge,
        hours_pr_to_merge
    from fix_latency
    where merged_at is not null
),

final as (
    select
        week_start,
        severity,
        count(*) as merged_fixes,
        {{ pixee_percentile('hours_detect_to_merge', 0.5) }} as p50_hours_detect_to_merge,
        {{ pixee_percentile('hours_detect_to_merge', 0.9) }} as p90_hours_detect_to_merge,
        avg(hours_detect_to_merge) as mean_hours_detect_to_merge,
        {{ pixee_percentile('hours_pr_to_merge', 0.5) }} as p50_hours_pr_to_merge
    from merged_fixes
    group by week_start, severity
)

select * from final
