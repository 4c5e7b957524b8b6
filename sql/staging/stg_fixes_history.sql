-- One row per observed version of a fix (raw `fixes_history`, keyed by id and updated_at),
-- typed like stg_fixes; valid from its updated_at until the next version's (NULL: the latest).
with source as (
    select * from pixee.fixes_history
),

renamed as (
    select
        -- ids
        cast(id as varchar) as fix_id,
        cast(repository_id as varchar) as repository_id,
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
        -- the start of the run that first read this version
        cast(observed_at as timestamp) as observed_at
    from source
),

versions as (
    select
        *,
        updated_at as valid_from,
        lead(updated_at) over (partition by fix_id order by updated_at) as valid_to
    from renamed
)

select * from versions
