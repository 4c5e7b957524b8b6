-- One row per finding detected before the end of the as-of date: its state at the end of that date.
with finding_versions as (
    select * from {{ ref('int_pixee__finding_versions') }}
),

final as (
    select *
    from finding_versions
    where valid_from_day <= {{ pixee_as_of_day_number() }}
        and {{ pixee_as_of_day_number() }} < valid_to_day
        and detected_at < {{ pixee_as_of_end() }}
)

select * from final
