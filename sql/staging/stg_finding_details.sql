-- One row per finding whose details were read (only when details are on), from `finding_details`.
with source as (
    select * from pixee.finding_details
),

renamed as (
    select
        -- ids
        cast(id as varchar) as finding_id,
        -- strings
        cast(justification as varchar) as justification
    from source
)

select * from renamed
