-- One row per observed version of a finding, from `findings_history`; empty where there is no history.
{%- set raw = pixee_raw_relation('findings_history') %}
{%- set columns = pixee_raw_columns(raw) %}
with source as (
    select * from {{ pixee_from(raw) }}
),

renamed as (
    select
{{ stg_finding_columns(columns) }},
        {{ pixee_column(columns, 'observed_at', dbt.type_timestamp()) }} as observed_at
    from source
)

select * from renamed
