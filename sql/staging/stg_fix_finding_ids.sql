-- One row per (fix, finding id it addresses), from dlt's child table `fixes__finding_ids`.
with source as (
    select * from pixee.fixes__finding_ids
),

renamed as (
    select
        -- ids: fix_row_key joins stg_fixes.fix_row_key (dlt's row key of the parent fix)
        cast(_dlt_parent_id as varchar) as fix_row_key,
        cast(value as varchar) as finding_id,
        -- numerics
        cast(_dlt_list_idx as bigint) as list_position
    from source
)

select * from renamed
