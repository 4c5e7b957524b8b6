-- One row per observed version of a fix, from `fixes_history`; empty without history.
{{ stg_history('fixes', 'fix_id') }}
