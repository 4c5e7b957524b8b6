-- One row per finding, typed and renamed from the raw `findings` table.
with source as (
    select * from pixee.findings
),

renamed as (
    select
        -- ids
        cast(id as varchar) as finding_id,
        cast(repository_id as varchar) as repository_id,
        cast(scan_id as varchar) as scan_id,
        -- strings
        cast(rule_id as varchar) as rule_id,
        cast(detection_tool as varchar) as detection_tool,
        cast(title as varchar) as title,
        cast(severity as varchar) as severity,
        cast(cwe as varchar) as cwe,
        cast(path as varchar) as path,
        cast(triage_status as varchar) as triage_status,
        cast(classification as varchar) as classification,
        cast(status as varchar) as status,
        -- numerics
        cast(start_line as bigint) as start_line,
        cast(confidence as double) as confidence,
        -- timestamps (UTC)
        cast(detected_at as timestamp) as detected_at,
        cast(triaged_at as timestamp) as triaged_at,
        cast(resolved_at as timestamp) as resolved_at,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        -- when a complete read no longer found it (NULL while the API lists it)
        cast(_deleted_at as timestamp) as deleted_at
    from source
)

select * from renamed
