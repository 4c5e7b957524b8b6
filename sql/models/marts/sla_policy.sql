-- One row per severity: the SLA days in force (var pixee_sla_days, from the profile's [sla_days]).
{%- set sla_days = pixee_sla_days() %}
with policy as (
{%- if sla_days %}
    select * from (
        values
        {%- for severity, days in sla_days.items() %}
            ('{{ severity }}', {{ days | int }}){{ ',' if not loop.last }}
        {%- endfor %}
    ) as policy (severity, sla_days)
{%- else %}
    select cast(null as {{ dbt.type_string() }}) as severity, 0 as sla_days
    where 1 = 0
{%- endif %}
),

final as (
    select
        cast(severity as {{ dbt.type_string() }}) as severity,
        cast(sla_days as integer) as sla_days
    from policy
)

select * from final
