{#- Which API the raw dataset was loaded from: 'v1' (the overview API) or 'platform' (the HAL API).
    The marts runner decides it once, from the raw tables, and passes it as var `pixee_flavour`; every
    model that reads the two differently asks here, so the choice is made in one place. -#}

{% macro pixee_flavour() -%}
    {%- set flavour = var('pixee_flavour', 'v1') -%}
    {%- if flavour not in ('v1', 'platform') -%}
        {{ exceptions.raise_compiler_error("var pixee_flavour must be 'v1' or 'platform', not " ~ flavour) }}
    {%- endif -%}
    {{ return(flavour) }}
{%- endmacro %}

{% macro pixee_is_platform() -%}
    {{ return(pixee_flavour() == 'platform') }}
{%- endmacro %}

{% macro pixee_finding_key(repository_id, detector, finding_id) -%}
    {#- What identifies a finding within the source: a v1 finding's id; a platform finding is
        (repository, detector, id), the id being unique only per scan. -#}
    {%- if pixee_is_platform() -%}
        cast(
            coalesce({{ repository_id }}, '') || '/' || coalesce({{ detector }}, '') || '/' || coalesce({{ finding_id }}, '')
            as {{ dbt.type_string() }}
        )
    {%- else -%}
        {{ finding_id }}
    {%- endif -%}
{%- endmacro %}
