-- Platform source: every observed version of every raw finding row, one row per (scan, finding) per
-- version: the current rows of `findings` (is_current) and every row of `findings_history`.
-- Severity is lower-cased with `info` counted as `low`; the triage result is its raw value.
{{ config(enabled=pixee_is_platform()) }}
{%- set current_raw = pixee_raw_relation('findings') %}
{%- set history_raw = pixee_raw_relation('findings_history') %}
with current_rows as (
    select
{{ pixee_stg_platform_finding_row_columns(pixee_raw_columns(current_raw)) }},
        true as is_current
    from {{ pixee_from(current_raw) }}
),

history_rows as (
    select
{{ pixee_stg_platform_finding_row_columns(pixee_raw_columns(history_raw)) }},
        false as is_current
    from {{ pixee_from(history_raw) }}
),

final as (
    select * from current_rows
    union all
    select * from history_rows
)

select * from final
