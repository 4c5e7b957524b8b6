-- Platform source: one row per scan the warehouse ever read (expired ones included), typed, with
-- whether it belongs to its repository's stream: the default branch, or no branch at all.
{{ config(enabled=pixee_is_platform()) }}
{%- set raw = pixee_raw_relation('scans') %}
{%- set columns = pixee_raw_columns(raw) %}
{%- set repositories_raw = pixee_raw_relation('repositories') %}
{%- set repository_columns = pixee_raw_columns(repositories_raw) %}
with source as (
    select * from {{ pixee_from(raw) }}
),

repositories as (
    select
        {{ pixee_column(repository_columns, 'id', dbt.type_string()) }} as repository_id,
        {{ pixee_column(repository_columns, 'default_branch', dbt.type_string()) }} as default_branch
    from {{ pixee_from(repositories_raw) }}
),

renamed as (
    select
        -- ids
        {{ pixee_column(columns, 'id', dbt.type_string()) }} as scan_id,
        {{ pixee_column(columns, 'repository_id', dbt.type_string()) }} as repository_id,
        -- strings
        {{ pixee_column(columns, 'detector', dbt.type_string()) }} as detector,
        {{ pixee_column(columns, 'branch', dbt.type_string()) }} as branch,
        {{ pixee_column(columns, 'sha', dbt.type_string()) }} as commit_sha,
        {{ pixee_column(columns, '_version', dbt.type_string()) }} as version_hash,
        -- timestamps (UTC); _expired_at: the first complete read that no longer found it
        {{ pixee_column(columns, 'imported_at', dbt.type_timestamp()) }} as imported_at,
        {{ pixee_column(columns, 'expires_at', dbt.type_timestamp()) }} as expires_at,
        {{ pixee_column(columns, '_expired_at', dbt.type_timestamp()) }} as expired_at
    from source
),

final as (
    select
        renamed.*,
        -- a blank branch is no branch; a scan of a repository never read has no default branch
        (coalesce(renamed.branch, '') = '' or renamed.branch = repositories.default_branch) as is_stream
    from renamed
    left join repositories
        on renamed.repository_id = repositories.repository_id
)

select * from final
