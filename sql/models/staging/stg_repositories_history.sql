-- One row per observed version of a repository, from `repositories_history`; empty without history.
{%- set raw = pixee_raw_relation('repositories_history') %}
{%- set columns = pixee_raw_columns(raw) %}
with source as (
    select * from {{ pixee_from(raw) }}
),

renamed as (
    select
{{ stg_repository_columns(columns) }},
        {{ pixee_column(columns, 'observed_at', dbt.type_timestamp()) }} as observed_at
    from source
),

-- a version holds from its updated_at until the next version's (NULL: the latest observed)
versions as (
    select
        renamed.*,
        renamed.updated_at as valid_from,
        lead(renamed.updated_at) over (partition by renamed.repository_id order by renamed.updated_at) as valid_to
    from renamed
)

select * from versions
