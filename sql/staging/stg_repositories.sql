-- One row per repository, typed and renamed from the raw `repositories` table.
with source as (
    select * from pixee.repositories
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
        -- when a complete read no longer found it (NULL while the API lists it)
        cast(_deleted_at as timestamp) as deleted_at
    from source
)

select * from renamed
