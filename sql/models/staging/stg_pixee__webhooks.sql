-- One row per webhook that exists now, typed and renamed from the raw `webhooks` table.
{%- set raw = pixee_raw_relation('webhooks') %}
{%- set columns = pixee_raw_columns(raw) %}
with source as (
    select * from {{ pixee_from(raw) }}
),

renamed as (
    select
        -- ids
        {{ pixee_column(columns, 'id', dbt.type_string()) }} as webhook_id,
        -- strings
        {{ pixee_column(columns, 'url', dbt.type_string()) }} as url,
        -- booleans
        {{ pixee_column(columns, 'active', dbt.type_boolean()) }} as is_active,
        -- timestamps (UTC)
        {{ pixee_column(columns, 'created_at', dbt.type_timestamp()) }} as created_at
    from source
)

select * from renamed
