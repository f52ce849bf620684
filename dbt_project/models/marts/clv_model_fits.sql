-- The CLV model fits of this run: one row per model and parameter with the fit's diagnostics
-- (int_clv_fit, a dbt Python model, does the fitting). Null values and status thin_data when there
-- were too few buyers to fit.
with fits as (
    select * from {{ ref('int_clv_fit') }}
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        cast(model as {{ dbt.type_string() }}) as model,  -- noqa: RF04
        cast(parameter as {{ dbt.type_string() }}) as parameter,
        cast(value as double) as value,  -- noqa: RF04
        cast(n_customers as integer) as n_customers,
        cast(log_likelihood as double) as log_likelihood,
        cast(converged as boolean) as converged,
        cast(fit_seconds as double) as fit_seconds,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(status_message as {{ dbt.type_string() }}) as status_message,
        cast(library_version as {{ dbt.type_string() }}) as library_version
    from fits
)

select * from final
