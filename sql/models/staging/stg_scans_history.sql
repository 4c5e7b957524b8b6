-- One row per observed version of a scan, from `scans_history`; empty without history.
{{ stg_history('scans', 'scan_id') }}
