-- One row per (source, day, analysis type) from the day of the first analysis created through the
-- as-of date, zeros included: analyses created, completed and failed that day, and how long the
-- completed ones took. Each analysis created by the end of the as-of date, read from its state then.
-- A platform source only: a v1 warehouse has no analyses, and the table is empty.
{%- if pixee_is_platform() %}
with analyses as (
    select * from {{ ref('stg_pixee__platform_analysis_versions') }}
),

ranked as (
    select
        analyses.*,
        row_number() over (partition by analysis_id order by {{ pixee_state_order() }}) as state_rank
    from analyses
),

states as (
    select * from ranked
    where state_rank = 1 and created_at < {{ pixee_as_of_end() }}
),

day_spine as (
    {{ pixee_day_spine('states', 'analysis_type', 'created_at') }}
),

created as (
    select analysis_type, {{ pixee_day_number('created_at') }} as day_number, count(*) as created
    from states
    group by analysis_type, {{ pixee_day_number('created_at') }}
),

completed as (
    select
        analysis_type,
        {{ pixee_day_number('completed_at') }} as day_number,
        count(*) as completed,
        {{ pixee_percentile(pixee_hours_between('created_at', 'completed_at'), 0.5) }} as p50_hours_to_complete,
        {{ pixee_percentile(pixee_hours_between('created_at', 'completed_at'), 0.9) }} as p90_hours_to_complete
    from states
    where state = 'completed' and completed_at is not null
    group by analysis_type, {{ pixee_day_number('completed_at') }}
),

failed as (
    select analysis_type, {{ pixee_day_number('updated_at') }} as day_number, count(*) as failed
    from states
    where state = 'failed'
    group by analysis_type, {{ pixee_day_number('updated_at') }}
),

final as (
    select
        cast('default' as {{ dbt.type_string() }}) as source_name,
        day_spine.day,
        cast(day_spine.analysis_type as {{ dbt.type_string() }}) as type,
        cast(coalesce(created.created, 0) as {{ dbt.type_bigint() }}) as created,
        cast(coalesce(completed.completed, 0) as {{ dbt.type_bigint() }}) as completed,
        cast(coalesce(failed.failed, 0) as {{ dbt.type_bigint() }}) as failed,
        completed.p50_hours_to_complete,
        completed.p90_hours_to_complete
    from day_spine
    left join created
        on day_spine.analysis_type = created.analysis_type and day_spine.day_number = created.day_number
    left join completed
        on day_spine.analysis_type = completed.analysis_type and day_spine.day_number = completed.day_number
    left join failed
        on day_spine.analysis_type = failed.analysis_type and day_spine.day_number = failed.day_number
)

select * from final
{%- else %}
select
    cast(null as {{ dbt.type_string() }}) as source_name,
    cast(null as date) as day,
    cast(null as {{ dbt.type_string() }}) as type,
    cast(null as {{ dbt.type_bigint() }}) as created,
    cast(null as {{ dbt.type_bigint() }}) as completed,
    cast(null as {{ dbt.type_bigint() }}) as failed,
    cast(null as double) as p50_hours_to_complete,
    cast(null as double) as p90_hours_to_complete
where 1 = 0
{%- endif %}
