-- One row per webhook that exists now, typed and renamed from the raw `webhooks` table.
with source as (
    select * from pixee.webhooks
),

renamed as (
    select
        -- ids
        cast(id as varchar) as webhook_id,
        -- strings
        cast(url as varchar) as url,
        -- booleans
        cast(active as boolean) as is_active,
        -- timestamps (UTC)
        cast(created_at as timestamp) as created_at
    from source
)

select * from renamed
