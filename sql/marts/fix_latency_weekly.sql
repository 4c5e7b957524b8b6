-- One row per (week of merge, severity) with at least one merged fix: remediation-time percentiles.
with fix_latency as (
    select * from pixee_marts.fix_latency
),

merged_fixes as (
    select
        -- date_trunc('week') is the Monday of the ISO week in DuckDB and in Snowflake (WEEK_START 0/1)
        cast(date_trunc('week', merged_at) as date) as week_start,
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
        quantile_cont(hours_detect_to_merge, 0.5) as p50_hours_detect_to_merge,
        quantile_cont(hours_detect_to_merge, 0.9) as p90_hours_detect_to_merge,
        avg(hours_detect_to_merge) as mean_hours_detect_to_merge,
        quantile_cont(hours_pr_to_merge, 0.5) as p50_hours_pr_to_merge
    from merged_fixes
    group by week_start, severity
)

select * from final
