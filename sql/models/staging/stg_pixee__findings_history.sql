-- One row per observed version of a finding, from `findings_history`; empty without history.
{%- if pixee_is_platform() %}
-- platform: every state of every finding, one per event time (stg_pixee__platform_finding_versions)
with versions as (
    select * from {{ ref('stg_pixee__platform_finding_versions') }}
),

final as (
    select
        versions.*,
        cast(null as {{ dbt.type_timestamp() }}) as observed_at,
        versions.updated_at as valid_from,
        lead(versions.updated_at) over (partition by versions.finding_key order by versions.updated_at) as valid_to
    from versions
)

select * from final
{%- else %}
{{ pixee_stg_history('findings', 'finding_id') }}
{%- endif %}
