-- One row per fix generated before the end of the as-of date: its state at the end of that date
-- (the latest version with updated_at before then, else its earliest), with its current row's row key.
with fixes as (
    select * from {{ ref('stg_pixee__fixes') }}
),

fixes_history as (
    select * from {{ ref('stg_pixee__fixes_history') }}
),

{%- if pixee_has_history('fixes') %}
observed as (
    select
        fix_id, repository_id, codemod, detection_tool, ai_generated, status,
        generated_at, pr_opened_at, merged_at, closed_at, updated_at, 1 as preference
    from fixes_history
    union all
    select
        fix_id, repository_id, codemod, detection_tool, ai_generated, status,
        generated_at, pr_opened_at, merged_at, closed_at, updated_at, 0 as preference
    from fixes
),

ranked as (
    select
        observed.*,
        row_number() over (
            partition by fix_id
            order by {{ pixee_state_order() }}, preference
        ) as state_rank
    from observed
),
{%- else %}

-- no history: the state is the current row
ranked as (
    select
        fix_id,
        repository_id,
        codemod,
        detection_tool,
        ai_generated,
        status,
        generated_at,
        pr_opened_at,
        merged_at,
        closed_at,
        updated_at,
        1 as state_rank
    from fixes
),

{%- endif %}

final as (
    select
        ranked.fix_id,
        ranked.repository_id,
        ranked.codemod,
        ranked.detection_tool,
        ranked.ai_generated,
        ranked.status,
        ranked.generated_at,
        ranked.pr_opened_at,
        ranked.merged_at,
        ranked.closed_at,
        fixes.fix_row_key
    from ranked
    inner join fixes
        on ranked.fix_id = fixes.fix_id
    where ranked.state_rank = 1
        and ranked.generated_at < {{ pixee_as_of_end() }}
)

select * from final
