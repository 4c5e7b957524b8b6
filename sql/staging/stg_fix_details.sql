-- One row per fix whose details were read (only when details are on), from `fix_details`.
with source as (
    select * from pixee.fix_details
),

renamed as (
    select
        -- ids
        cast(id as varchar) as fix_id,
        -- strings
        cast(diff as varchar) as diff,
        cast(rationale as varchar) as rationale,
        -- numerics (0..100)
        cast(quality__safety as double) as quality_safety,
        cast(quality__effectiveness as double) as quality_effectiveness,
        cast(quality__cleanliness as double) as quality_cleanliness
    from source
)

select * from renamed
