-- One row per repository with a merged fix: the host's own view of the package's fix_latency mart.
with fix_latency as (
    select * from {{ ref('fix_latency') }}
),

merged as (
    select
        repository_id,
        count(*) as merged_fixes,
        max(hours_detect_to_merge) as max_hours_detect_to_merge
    from fix_latency
    where status = 'merged'
    group by repository_id
)

select * from merged
