-- One row per observed version of a repository, from `repositories_history`; empty without history.
{{ stg_history('repositories', 'repository_id') }}
