-- One row per detection tool: what its findings (detected by the end of the as-of date) become:
-- triage outcomes, closures, and the share of fixes Pixee's merged PRs made.
with finding_remediation as (
    select * from {{ ref('finding_remediation') }}
),

tool_counts as (
    select
        detection_tool,
        count(*) as findings,
        count(classification) as triaged,
        sum(case when classification = 'TRUE_POSITIVE' then 1 else 0 end) as true_positive,
        sum(case when classification = 'FALSE_POSITIVE' then 1 else 0 end) as false_positive,
        sum(case when classification = 'WONT_FIX' then 1 else 0 end) as wont_fix,
        {{ pixee_percentile('case when classification is not null then hours_to_triage end', 0.5) }}
            as p50_hours_to_triage,
        sum(case when hours_to_resolve is not null then 1 else 0 end) as closures,
        sum(case when resolution = 'fixed_by_pixee' and not is_deleted then 1 else 0 end) as fixed_by_pixee,
        sum(case when resolution in ('fixed', 'fixed_by_pixee') and not is_deleted then 1 else 0 end) as fixed,
        {{ pixee_percentile('hours_to_resolve', 0.5) }} as p50_hours_to_resolve
    from finding_remediation
    group by detection_tool
),

final as (
    select
        detection_tool,
        cast(findings as bigint) as findings,
        cast(triaged as bigint) as triaged,
        cast(true_positive as bigint) as true_positive,
        cast(false_positive as bigint) as false_positive,
        cast(wont_fix as bigint) as wont_fix,
        case when triaged > 0 then cast(false_positive as double) / triaged end as false_positive_rate,
        p50_hours_to_triage,
        cast(closures as bigint) as closures,
        cast(fixed_by_pixee as bigint) as fixed_by_pixee,
        case when fixed > 0 then cast(fixed_by_pixee as double) / fixed end as pixee_fix_share,
        p50_hours_to_resolve
    from tool_counts
)

select * from final
