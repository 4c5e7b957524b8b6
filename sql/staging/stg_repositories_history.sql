-- One row per observed version of a repository (raw `repositories_history`, keyed by id and updated_at),
-- typed like stg_repositories; valid from its updated_at until the next version's (NULL: the latest).
with source as (
    select * from pixee.repositories_history
),

renamed as (
    select
        -- ids
        cast(id as varchar) as repository_id,
        -- strings
        cast(name as varchar) as repository_name,
        cast(full_name as varchar) as full_name,
        cast(scm as varchar) as scm,
        cast(default_branch as varchar) as default_branch,
        cast(language as varchar) as language,
        -- booleans and numerics
        cast(enabled as boolean) as is_enabled,
        cast(settings__auto_fix as boolean) as auto_fix,
        cast(settings__triage as boolean) as triage_enabled,
        cast(settings__max_open_prs as bigint) as max_open_prs,
        -- timestamps (UTC)
        cast(last_scan_at as timestamp) as last_scan_at,
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
        lead(updated_at) over (partition by repository_id order by updated_at) as valid_to
    from renamed
)

select * from versions
