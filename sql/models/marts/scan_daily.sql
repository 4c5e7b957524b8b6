-- One row per (source, day, detector) from the day of the first scan imported through the as-of
-- date, zeros included: scans imported that day (every branch), the finding rows they list, and scans
-- that expired that day. A platform source only: a v1 warehouse gets an empty table.
{%- if pixee_is_platform() %}
with scans as (
    select * from {{ ref('stg_pixee__platform_scans') }}
    where imported_at < {{ pixee_as_of_end() }}
),

finding_rows as (
    select * from {{ ref('stg_pixee__platform_finding_rows') }}
    where is_current
),

day_spine as (
    {{ pixee_day_spine('scans', 'detector', 'imported_at') }}
),

rows_per_scan as (
    select scan_id, count(*) as findings_listed
    from finding_rows
    group by scan_id
),

imported as (
    select
        scans.detector,
        {{ pixee_day_number('scans.imported_at') }} as day_number,
        count(*) as scans_imported,
        sum(coalesce(rows_per_scan.findings_listed, 0)) as findings_listed
    from scans
    left join rows_per_scan
        on scans.scan_id = rows_per_scan.scan_id
    group by scans.detector, {{ pixee_day_number('scans.imported_at') }}
),

expired as (
    select detector, {{ pixee_day_number('expired_at') }} as day_number, count(*) as scans_expired
    from scans
    where expired_at is not null
    group by detector, {{ pixee_day_number('expired_at') }}
),

final as (
    select
        cast('default' as {{ dbt.type_string() }}) as source_name,
        day_spine.day,
        cast(day_spine.detector as {{ dbt.type_string() }}) as detector,
        cast(coalesce(imported.scans_imported, 0) as {{ dbt.type_bigint() }}) as scans_imported,
        cast(coalesce(imported.findings_listed, 0) as {{ dbt.type_bigint() }}) as findings_listed,
        cast(coalesce(expired.scans_expired, 0) as {{ dbt.type_bigint() }}) as scans_expired
    from day_spine
    left join imported
        on day_spine.detector = imported.detector and day_spine.day_number = imported.day_number
    left join expired
        on day_spine.detector = expired.detector and day_spine.day_number = expired.day_number
)

select * from final
{%- else %}
select
    cast(null as {{ dbt.type_string() }}) as source_name,
    cast(null as date) as day,
    cast(null as {{ dbt.type_string() }}) as detector,
    cast(null as {{ dbt.type_bigint() }}) as scans_imported,
    cast(null as {{ dbt.type_bigint() }}) as findings_listed,
    cast(null as {{ dbt.type_bigint() }}) as scans_expired
where 1 = 0
{%- endif %}
