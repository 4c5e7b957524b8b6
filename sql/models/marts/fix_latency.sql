-- One row per fix: its severity, the findings it addresses, and the hours between each step.
{{ fix_steps(ref('stg_fixes'), ref('stg_findings'), ref('stg_repositories')) }}
