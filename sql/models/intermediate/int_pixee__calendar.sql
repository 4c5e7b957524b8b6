{{ config(materialized='table') }}
-- One row per day from the day before the first detection through the as-of date: the date spine
-- (a platform source: the first detection, scan import or analysis, whichever is earliest).
-- Numbers 0..99,999 from five digits (no engine-specific generator), counted back from the as-of date.
with findings as (
    select detected_at from {{ ref('stg_pixee__findings') }}
    union all
    select detected_at from {{ ref('stg_pixee__findings_history') }}
    {%- if pixee_is_platform() %}
    union all
    select imported_at as detected_at from {{ ref('stg_pixee__platform_scans') }}
    union all
    select created_at as detected_at from {{ ref('stg_pixee__platform_analysis_versions') }}
    {%- endif %}
),

digits as (
    select * from (values (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)) as digit (n)
),

numbers as (
    select ones.n + 10 * tens.n + 100 * hundreds.n + 1000 * thousands.n + 10000 * ten_thousands.n as n
    from digits as ones
    cross join digits as tens
    cross join digits as hundreds
    cross join digits as thousands
    cross join digits as ten_thousands
),

first_day as (
    select
        coalesce(
            least(min({{ pixee_day_number('detected_at') }}), {{ pixee_as_of_day_number() }}) - 1,
            {{ pixee_as_of_day_number() }}
        ) as day_number
    from findings
),

days as (
    select {{ pixee_as_of_day_number() }} - numbers.n as day_number
    from numbers
    cross join first_day
    where {{ pixee_as_of_day_number() }} - numbers.n >= first_day.day_number
),

final as (
    select
        {{ pixee_day_from_number('day_number') }} as day,
        cast(day_number as bigint) as day_number
    from days
)

select * from final
