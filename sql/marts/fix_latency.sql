-- One row per fix: its severity, the findings it addresses, and the hours between each step.
with fixes as (
    select * from pixee_marts_staging.stg_fixes
),

fix_finding_ids as (
    select * from pixee_marts_staging.stg_fix_finding_ids
),

findings as (
    select * from pixee_marts_staging.stg_findings
),

repositories as (
    select * from pixee_marts_staging.stg_repositories
),

-- severity as a number so that max() picks the highest
fix_findings as (
    select
        fixes.fix_id,
        fix_finding_ids.finding_id,
        findings.detected_at,
        case findings.severity
            when 'critical' then 4
            when 'high' then 3
            when 'medium' then 2
            when 'low' then 1
        end as severity_rank
    from fixes
    inner join fix_finding_ids
        on fixes.fix_row_key = fix_finding_ids.fix_row_key
    left join findings
        on fix_finding_ids.finding_id = findings.finding_id
),

findings_per_fix as (
    select
        fix_id,
        count(distinct finding_id) as finding_count,
        max(severity_rank) as severity_rank,
        min(detected_at) as detected_at
    from fix_findings
    group by fix_id
),

fix_steps as (
    select
        fixes.fix_id,
        fixes.repository_id,
        repositories.repository_name,
        fixes.codemod,
        fixes.detection_tool,
        fixes.ai_generated,
        fixes.status,
        case findings_per_fix.severity_rank
            when 4 then 'critical'
            when 3 then 'high'
            when 2 then 'medium'
            when 1 then 'low'
        end as severity,
        coalesce(findings_per_fix.finding_count, 0) as finding_count,
        findings_per_fix.detected_at,
        fixes.generated_at,
        fixes.pr_opened_at,
        fixes.merged_at,
        fixes.closed_at
    from fixes
    left join findings_per_fix
        on fixes.fix_id = findings_per_fix.fix_id
    left join repositories
        on fixes.repository_id = repositories.repository_id
),

-- exact hours: microseconds between the two timestamps / 3600e6, never hour boundaries
final as (
    select
        *,
        cast(date_diff('microsecond', detected_at, generated_at) as double) / 3600000000.0
            as hours_detect_to_fix,
        cast(date_diff('microsecond', generated_at, pr_opened_at) as double) / 3600000000.0
            as hours_fix_to_pr,
        cast(date_diff('microsecond', pr_opened_at, merged_at) as double) / 3600000000.0
            as hours_pr_to_merge,
        cast(date_diff('microsecond', detected_at, merged_at) as double) / 3600000000.0
            as hours_detect_to_merge
    from fix_steps
)

select * from final
