-- One row per observed version of a fix, from `fixes_history`; empty without history.
{%- if pixee_is_platform() %}
-- platform: every observed version of every patch, as a fix (stg_pixee__platform_patch_versions)
with versions as (
    select * from {{ ref('stg_pixee__platform_patch_versions') }}
),

final as (
    select
        fix_id, repository_id, codemod, detection_tool, summary, status, pr_url, ai_generated,
        files_changed, pr_number, generated_at, pr_opened_at, merged_at, closed_at, updated_at,
        cast(null as {{ dbt.type_timestamp() }}) as observed_at,
        updated_at as valid_from,
        lead(updated_at) over (partition by fix_id order by updated_at) as valid_to
    from versions
)

select * from final
{%- else %}
{{ pixee_stg_history('fixes', 'fix_id') }}
{%- endif %}
