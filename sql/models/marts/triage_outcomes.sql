-- One row per (detection tool, rule): how triage classified that rule's findings, and how fast.
with findings as (
    select * from {{ ref('stg_pixee__findings') }}
),

finding_outcomes as (
    select
        detection_tool,
        rule_id,
        classification,
        case
            when classification is not null
                then {{ pixee_hours_between('detected_at', 'triaged_at') }}
        end as hours_to_triage
    from findings
),

rule_counts as (
    select
        detection_tool,
        rule_id,
        count(*) as findings,
        count(classification) as triaged,
        sum(case when classification = 'TRUE_POSITIVE' then 1 else 0 end) as true_positive,
        sum(case when classification = 'FALSE_POSITIVE' then 1 else 0 end) as false_positive,
        sum(case when classification = 'WONT_FIX' then 1 else 0 end) as wont_fix,
        {{ pixee_percentile('hours_to_triage', 0.5) }} as p50_hours_to_triage
    from finding_outcomes
    group by detection_tool, rule_id
),

-- a ratio whose denominator is 0 is NULL
final as (
    select
        detection_tool,
        rule_id,
        cast(findings as bigint) as findings,
        cast(triaged as bigint) as triaged,
        cast(true_positive as bigint) as true_positive,
        cast(false_positive as bigint) as false_positive,
        cast(wont_fix as bigint) as wont_fix,
        case when triaged > 0 then cast(false_positive as double) / triaged end as false_positive_rate,
        p50_hours_to_triage
    from rule_counts
)

select * from final
