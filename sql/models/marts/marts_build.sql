-- One row: the as-of date of the marts and when they were built. Built after every other mart, so
-- its as_of moves on only when the whole build succeeded.
{%- for mart in ['backlog_daily', 'fix_latency', 'fix_latency_weekly', 'repository_scorecard',
                 'triage_outcomes', 'finding_remediation', 'remediation_weekly', 'fix_outcomes',
                 'scanner_outcomes', 'analysis_daily', 'scan_daily'] %}
-- depends_on: {{ ref(mart) }}
{%- endfor %}
select
    {{ pixee_as_of() }} as as_of,
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as {{ dbt.type_timestamp() }}) as built_at
