-- One row per scan, typed and renamed from the raw `scans` table.
with source as (
    select * from pixee.scans
),

renamed as (
    select
        -- ids
        cast(id as varchar) as scan_id,
        cast(repository_id as varchar) as repository_id,
        -- strings
        cast(state as varchar) as state,
        cast(trigger as varchar) as scan_trigger,
        cast(detection_tool as varchar) as detection_tool,
        cast(branch as varchar) as branch,
        cast(commit_sha as varchar) as commit_sha,
        -- numerics
        cast(findings_count as bigint) as findings_count,
        cast(fixes_generated as bigint) as fixes_generated,
        cast(duration_seconds as double) as duration_seconds,
        -- timestamps (UTC)
        cast(started_at as timestamp) as started_at,
        cast(completed_at as timestamp) as completed_at,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        -- when a complete read no longer found it (NULL while the API lists it)
        cast(_deleted_at as timestamp) as deleted_at
    from source
)

select * from renamed
