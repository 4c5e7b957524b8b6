-- One row per observed version of a finding, from `findings_history`; empty without history.
{{ stg_history('findings', 'finding_id') }}
