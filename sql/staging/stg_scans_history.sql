-- One row per observed version of a scan (raw `scans_history`, keyed by id and updated_at),
-- typed like stg_scans; valid from its updated_at until the next version's (NULL: the latest).
with source as (
    select * from pixee.scans_history
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
        -- the start of the run that first read this version
        cast(observed_at as timestamp) as observed_at
    from source
),

versions as (
    select
        *,
        updated_at as valid_from,
        lead(updated_at) over (partition by scan_id order by updated_at) as valid_to
    from renamed
)

select * from versions
