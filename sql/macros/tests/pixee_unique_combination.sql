{#- A model's grain: no two rows share the values of `columns` (NULLs compare equal here). -#}
{% test pixee_unique_combination(model, columns) %}
select
    {{ columns | join(', ') }},
    count(*) as rows_per_key
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
