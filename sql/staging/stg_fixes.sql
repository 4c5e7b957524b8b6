-- One row per fix, typed and renamed from the raw `fixes` table (finding ids: stg_fix_finding_ids).
with source as (
    select * from pixee.fixes
),

renamed as (
    select
        -- ids
        cast(id as varchar) as fix_id,
        cast(repository_id as varchar) as repository_id,
        cast(_dlt_id as varchar) as fix_row_key,
        -- strings
        cast(codemod as varchar) as codemod,
        cast(detection_tool as varchar) as detection_tool,
        cast(summary as varchar) as summary,
        cast(status as varchar) as status,
        cast(pr_url as varchar) as pr_url,
        -- booleans and numerics
        cast(ai_generated as boolean) as ai_generated,
        cast(files_changed as bigint) as files_changed,
        cast(pr_number as bigint) as pr_number,
        -- timestamps (UTC); created_at is the moment the fix was generated
        cast(created_at as timestamp) as generated_at,
        cast(pr_opened_at as timestamp) as pr_opened_at,
        cast(merged_at as timestamp) as merged_at,
        cast(closed_at as timestamp) as closed_at,
        cast(updated_at as timestamp) as updated_at,
        -- when a complete read no longer found it (NULL while the API lists it)
        cast(_deleted_at as timestamp) as deleted_at
    from source
)

select * from renamed
