{#- Generic data tests dbt does not ship (dbt-utils cannot be installed here). -#}

{#- No two rows share the values of these columns (a grain of several columns). -#}
{% test unique_combination(model, combination_of_columns) %}

select
    {{ combination_of_columns | join(', ') }},
    count(*) as rows_with_these_values
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1

{% endtest %}

{#- Data test: every row satisfies a SQL condition (the rows where it fails are returned). -#}
{% test rows_satisfy(model, condition) %}

    select *
    from {{ model }}
    where not ({{ condition }})

{% endtest %}
