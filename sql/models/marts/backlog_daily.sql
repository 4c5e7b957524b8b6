-- One row per (day, repository, severity): the open backlog at the end of each day, by age and SLA,
-- each finding read from its state at the end of that day (built in int_pixee__backlog_days).
with backlog_days as (
    select * from {{ ref('int_pixee__backlog_days') }}
),

final as (
    select
        day,
        repository_id,
        severity,
        open_findings,
        open_true_positive,
        open_untriaged,
        opened,
        resolved,
        open_over_sla,
        open_age_0_7,
        open_age_8_30,
        open_age_31_90,
        open_age_over_90
    from backlog_days
)

select * from final
