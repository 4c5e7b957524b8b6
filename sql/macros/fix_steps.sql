{#- The select behind fix_latency, over any set of fixes and findings: one row per fix with the
    highest severity among its findings, their earliest detection and the hours between each step.
    fix_latency runs it on the current rows, the as-of marts on the states at the end of the as-of
    date. The relations need fix_id, fix_row_key, repository_id, codemod, detection_tool,
    ai_generated, status, generated_at, pr_opened_at, merged_at, closed_at (fixes) and finding_id,
    severity, detected_at (findings), finding_key in both findings and stg_pixee__fix_finding_ids. -#}
{% macro pixee_fix_steps(fixes, findings, repositories) -%}
with fix_finding_ids as (
    select * from {{ ref('stg_pixee__fix_finding_ids') }}
),

-- severity as a number so that max() picks the highest
fix_findings as (
    select
        fixes.fix_id,
        fix_finding_ids.finding_key,
        findings.detected_at,
        case findings.severity
            when 'critical' then 4
            when 'high' then 3
            when 'medium' then 2
            when 'low' then 1
        end as severity_rank
    from {{ fixes }} as fixes
    inner join fix_finding_ids
        on fixes.fix_row_key = fix_finding_ids.fix_row_key
    left join {{ findings }} as findings
        on fix_finding_ids.finding_key = findings.finding_key
),

findings_per_fix as (
    select
        fix_id,
        count(distinct finding_key) as finding_count,
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
        cast(coalesce(findings_per_fix.finding_count, 0) as {{ dbt.type_bigint() }}) as finding_count,
        findings_per_fix.detected_at,
        fixes.generated_at,
        fixes.pr_opened_at,
        fixes.merged_at,
        fixes.closed_at
    from {{ fixes }} as fixes
    left join findings_per_fix
        on fixes.fix_id = findings_per_fix.fix_id
    left join {{ repositories }} as repositories
        on fixes.repository_id = repositories.repository_id
),

final as (
    select
        *,
        {{ pixee_hours_between('detected_at', 'generated_at') }} as hours_detect_to_fix,
        {{ pixee_hours_between('generated_at', 'pr_opened_at') }} as hours_fix_to_pr,
        {{ pixee_hours_between('pr_opened_at', 'merged_at') }} as hours_pr_to_merge,
        {{ pixee_hours_between('detected_at', 'merged_at') }} as hours_detect_to_merge
    from fix_steps
)

select * from final
{%- endmacro %}
