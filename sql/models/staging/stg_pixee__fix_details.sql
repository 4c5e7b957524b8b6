-- One row per fix whose details were read (only when details are on), from `fix_details`.
{%- set raw = pixee_raw_relation('fix_details') %}
{%- set columns = pixee_raw_columns(raw) %}
with source as (
    select * from {{ pixee_from(raw) }}
),

renamed as (
    select
        -- ids
        {{ pixee_column(columns, 'id', dbt.type_string()) }} as fix_id,
        -- strings
        {{ pixee_column(columns, 'diff', dbt.type_string()) }} as diff,
        {{ pixee_column(columns, 'rationale', dbt.type_string()) }} as rationale,
        -- numerics (0..100)
        {{ pixee_column(columns, 'quality__safety', 'double') }} as quality_safety,
        {{ pixee_column(columns, 'quality__effectiveness', 'double') }} as quality_effectiveness,
        {{ pixee_column(columns, 'quality__cleanliness', 'double') }} as quality_cleanliness
    from source
)

select * from renamed
