-- One row per fix: its severity, the findings it addresses, and the hours between each step.
{{ pixee_fix_steps(ref('stg_pixee__fixes'), ref('stg_pixee__findings'), ref('stg_pixee__repositories')) }}
