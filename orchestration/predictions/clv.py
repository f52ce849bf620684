"""BG/NBD (repeat purchases, P(alive)) and Gamma-Gamma (spend per purchase) fits with PyMC-Marketing.

The dbt Python models `int_clv_fit` and `int_clv_predictions` call these functions, and so does the
reference test on CDNOW (tests/test_predictions.py): the warehouse and the test run the same code.

Input: one row per buyer in pymc-marketing's `rfm_summary` convention, in one time unit (the
warehouse uses days, the CDNOW reference weeks):

    customer_id     the buyer
    frequency       repeat purchases: purchase *days* after the first one (orders on one day count once)
    recency         time from the first to the last purchase day
    T               time from the first purchase day to the end of the observation (the as-of date)
    monetary_value  mean spend of the repeat purchase days (0 without a repeat purchase)

Both models are fitted by maximum a posteriori (`fit(method="map")`) with HalfFlat priors on every
parameter: with flat priors the MAP is the maximum-likelihood estimate, so the published fits are
reproduced to their rounding (pymc-marketing's default priors pull them 5-15% away). The Gamma-Gamma
model is fitted on the repeat buyers with a positive spend, as in Fader & Hardie. BG/NBD parameters
are searched within BG_NBD_BOUNDS (below).

With too little data (fewer than `min_buyers` buyers or `min_repeat_buyers` repeat buyers with
spend) nothing is fitted: every parameter and prediction is null, the status says why, and a warning
is logged. A fit that raises or does not converge is reported the same way; it never fails the build.

PyMC and PyMC-Marketing are imported only when there is something to fit or predict: the import
alone takes seconds, and the small test warehouses never need it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

BG_NBD = "bg_nbd"
GAMMA_GAMMA = "gamma_gamma"
BG_NBD_PARAMETERS = ("r", "alpha", "a", "b")
# v is Fader & Hardie's gamma (the scale of the spend distribution's scale).
GAMMA_GAMMA_PARAMETERS = ("p", "q", "v")
PARAMETERS = {BG_NBD: BG_NBD_PARAMETERS, GAMMA_GAMMA: GAMMA_GAMMA_PARAMETERS}

# Defaults of the dbt vars clv_min_buyers / clv_min_repeat_buyers (README, "Predictions").
MIN_BUYERS = 100
MIN_REPEAT_BUYERS = 30
# The models have 4 and 3 population parameters: beyond this many buyers a larger fit costs minutes
# and changes them in the third digit, so they are fitted on a stable sample (var
# clv_fit_max_customers) and the predictions still cover every buyer.
MAX_FIT_CUSTOMERS = 100_000
# BG/NBD parameters are searched within [1e-6, 1e6]. When every buyer has about the same dropout
# probability (the bundled sample), the likelihood keeps rising, ever more slowly, as a and b grow
# together at a fixed ratio; unbounded, the optimiser follows that ridge until the arithmetic breaks
# down (b = 1e21 and a meaningless log-likelihood on one as-of date). At the bound the estimate is
# the limit the ridge leads to, and predicts just as well. Real parameters are far inside.
BG_NBD_BOUNDS = (1e-6, 1e6)
# Converged: at the estimate, every score (derivative of the log-likelihood with respect to the log
# of a parameter) is at most this fraction of the log-likelihood's size, except a score pushing a
# parameter beyond the bound it sits at. CDNOW ends at 5e-7; the same fit stopped after 3
# evaluations is at 3e-2.
RELATIVE_SCORE_TOLERANCE = 1e-4

OK = "ok"
THIN_DATA = "thin_data"
NOT_CONVERGED = "not_converged"
FAILED = "failed"
STATUSES = (OK, THIN_DATA, NOT_CONVERGED, FAILED)

INPUT_COLUMNS = ("customer_id", "frequency", "recency", "T", "monetary_value")
FIT_COLUMNS = {
    "model": "string",
    "parameter": "string",
    "value": "Float64",
    "n_customers": "Int64",
    "log_likelihood": "Float64",
    "converged": "boolean",
    "fit_seconds": "Float64",
    "status": "string",
    "status_message": "string",
    "library_version": "string",
}
PREDICTION_COLUMNS = {
    "customer_id": "string",
    "p_alive": "Float64",
    "expected_purchases": "Float64",
    "expected_avg_order_value": "Float64",
    "predicted_clv": "Float64",
    "prediction_status": "string",
    "prediction_message": "string",
}


@dataclass(frozen=True)
class ModelFit:
    """One fitted (or skipped) model: its parameters and how the fit went."""

    model: str
    parameters: Mapping[str, float | None]
    n_customers: int
    status: str
    message: str | None = None
    log_likelihood: float | None = None
    converged: bool | None = None
    fit_seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK


@dataclass(frozen=True)
class ClvFit:
    bg_nbd: ModelFit
    gamma_gamma: ModelFit
    library_version: str | None = field(default=None)

    @property
    def models(self) -> tuple[ModelFit, ModelFit]:
        return (self.bg_nbd, self.gamma_gamma)


def model_inputs(inputs: pd.DataFrame) -> pd.DataFrame:
    """The rfm_summary columns, typed and sorted by customer (a stable order makes reruns identical)."""
    missing = [column for column in INPUT_COLUMNS if column not in inputs.columns]
    if missing:
        raise ValueError(f"CLV inputs lack the column(s) {', '.join(missing)}")
    data = pd.DataFrame(
        {
            "customer_id": inputs["customer_id"].astype(str),
            **{column: inputs[column].astype("float64") for column in INPUT_COLUMNS[1:]},
        }
    )
    if data["customer_id"].duplicated().any():
        raise ValueError("CLV inputs have more than one row for a customer")
    numbers = data[list(INPUT_COLUMNS[1:])]
    if numbers.isna().any().any() or (numbers < 0).any().any():
        raise ValueError("CLV inputs have a missing or negative frequency, recency, T or monetary_value")
    if (data["recency"] > data["T"]).any():
        raise ValueError("CLV inputs have a recency longer than T")
    return data.sort_values("customer_id", kind="stable").reset_index(drop=True)


def fit_sample(data: pd.DataFrame, max_customers: int | None) -> pd.DataFrame:
    """At most `max_customers` rows, chosen by a hash of customer_id: the same customers whatever
    the row order, run or machine (pandas' hash has a fixed key), and a new buyer enters the sample
    without pushing others out unless it hashes lower."""
    if max_customers is None or len(data) <= max_customers:
        return data
    hashes = pd.util.hash_pandas_object(data["customer_id"], index=False)
    chosen = hashes.sort_values(kind="stable").index[:max_customers]
    return data.loc[sorted(chosen)].reset_index(drop=True)


def fit_clv_models(
    inputs: pd.DataFrame,
    *,
    min_buyers: int = MIN_BUYERS,
    min_repeat_buyers: int = MIN_REPEAT_BUYERS,
    max_customers: int | None = MAX_FIT_CUSTOMERS,
) -> ClvFit:
    """Fits BG/NBD on every buyer (or a stable sample of `max_customers`) and Gamma-Gamma on the
    repeat buyers with spend among them, or skips both."""
    data = model_inputs(inputs)
    if max_customers is not None and len(data) > max_customers:
        log.info("CLV models fitted on a stable sample of %d of %d buyers", max_customers, len(data))
        data = fit_sample(data, max_customers)
    repeat = data[(data["frequency"] > 0) & (data["monetary_value"] > 0)]
    if len(data) < min_buyers or len(repeat) < min_repeat_buyers:
        message = (
            f"thin data: {len(data)} buyers, {len(repeat)} of them repeat buyers with spend; the models "
            f"need at least {min_buyers} buyers and {min_repeat_buyers} repeat buyers "
            "(vars clv_min_buyers, clv_min_repeat_buyers): predictions are null"
        )
        log.warning("CLV models not fitted: %s", message)
        return ClvFit(
            _skipped(BG_NBD, len(data), THIN_DATA, message),
            _skipped(GAMMA_GAMMA, len(repeat), THIN_DATA, message),
            _library_version(),
        )
    return ClvFit(_fit_safely(fit_bg_nbd, data), _fit_safely(fit_gamma_gamma, repeat), _library_version())


def fit_bg_nbd(data: pd.DataFrame, **map_options: Any) -> ModelFit:
    """BG/NBD (Fader, Hardie & Lee 2005) on customer_id, frequency, recency, T.

    `map_options` go to pymc.find_MAP (maxeval, …)."""
    from pymc_marketing.clv import BetaGeoModel

    started = time.perf_counter()
    model = BetaGeoModel(model_config=_flat_priors(BG_NBD_PARAMETERS))
    _build_with_compile_cache(model, data[["customer_id", "frequency", "recency", "T"]])
    # The optimiser works on the logs of the parameters (HalfFlat's transform).
    log_bounds = tuple(math.log(bound) for bound in BG_NBD_BOUNDS)
    map_options.setdefault("bounds", [log_bounds] * len(BG_NBD_PARAMETERS))
    model.fit(method="map", progressbar=False, **map_options)
    return _describe(model, BG_NBD, len(data), started, BG_NBD_BOUNDS)


def fit_gamma_gamma(data: pd.DataFrame, **map_options: Any) -> ModelFit:
    """Gamma-Gamma (Fader & Hardie 2013) on customer_id, frequency, monetary_value of repeat buyers."""
    from pymc_marketing.clv import GammaGammaModel

    started = time.perf_counter()
    model = GammaGammaModel(model_config=_flat_priors(GAMMA_GAMMA_PARAMETERS))
    _build_with_compile_cache(model, data[["customer_id", "frequency", "monetary_value"]])
    model.fit(method="map", progressbar=False, **map_options)
    fit = _describe(model, GAMMA_GAMMA, len(data), started)
    q = fit.parameters["q"]
    if fit.ok and q is not None and q <= 1:
        return _replace_status(fit, FAILED, f"q = {q:.4g} <= 1: the expected spend has no finite mean")
    return fit


def fit_rows(fit: ClvFit) -> pd.DataFrame:
    """One row per model parameter with the fit's diagnostics (the rows of marts.clv_model_fits)."""
    rows = [
        {
            "model": model.model,
            "parameter": name,
            "value": model.parameters.get(name),
            "n_customers": model.n_customers,
            "log_likelihood": model.log_likelihood,
            "converged": model.converged,
            "fit_seconds": model.fit_seconds,
            "status": model.status,
            "status_message": model.message,
            "library_version": fit.library_version,
        }
        for model in fit.models
        for name in PARAMETERS[model.model]
    ]
    return _typed(pd.DataFrame(rows, columns=list(FIT_COLUMNS)), FIT_COLUMNS)


def fit_from_rows(rows: pd.DataFrame) -> ClvFit:
    """The inverse of fit_rows: the fit as recorded in the warehouse."""
    models = {}
    for name in (BG_NBD, GAMMA_GAMMA):
        found = rows[rows["model"] == name]
        if found.empty:
            models[name] = _skipped(name, 0, FAILED, f"no {name} fit recorded")
            continue
        first = found.iloc[0]
        models[name] = ModelFit(
            model=name,
            parameters={row["parameter"]: _number(row["value"]) for _, row in found.iterrows()},
            n_customers=int(first["n_customers"]),
            status=str(first["status"]),
            message=None if pd.isna(first["status_message"]) else str(first["status_message"]),
            log_likelihood=_number(first["log_likelihood"]),
            converged=None if pd.isna(first["converged"]) else bool(first["converged"]),
            fit_seconds=_number(first["fit_seconds"]),
        )
    library = rows["library_version"].dropna()
    return ClvFit(models[BG_NBD], models[GAMMA_GAMMA], str(library.iloc[0]) if len(library) else None)


def predict(
    inputs: pd.DataFrame,
    fit: ClvFit,
    *,
    purchase_horizon: float = 30,
    clv_months: int = 12,
    monthly_discount_rate: float = 0.0,
    time_unit: str = "D",
) -> pd.DataFrame:
    """Per buyer: P(alive), expected purchases within `purchase_horizon` (the inputs' time unit),
    expected spend per purchase and the CLV over `clv_months` months of 30 days (pymc-marketing's
    convention with `time_unit` 'D'). Null where the model behind a value was not fitted."""
    data = model_inputs(inputs)
    out = pd.DataFrame({"customer_id": data["customer_id"]})
    for column in ("p_alive", "expected_purchases", "expected_avg_order_value", "predicted_clv"):
        out[column] = np.nan
    problems = [model for model in fit.models if not model.ok]
    out["prediction_status"] = problems[0].status if problems else OK
    out["prediction_message"] = "; ".join(dict.fromkeys(_problem(model) for model in problems)) or None
    if fit.bg_nbd.ok and len(data):
        from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

        transactions = data[["customer_id", "frequency", "recency", "T"]]
        bg_nbd = _with_parameters(BetaGeoModel, transactions, fit.bg_nbd)
        out["p_alive"] = _per_customer(bg_nbd.expected_probability_alive(data=transactions))
        out["expected_purchases"] = _per_customer(
            bg_nbd.expected_purchases(data=transactions, future_t=purchase_horizon)
        )
        if fit.gamma_gamma.ok:
            spend = data[["customer_id", "frequency", "monetary_value"]]
            gamma_gamma = _with_parameters(GammaGammaModel, spend, fit.gamma_gamma)
            out["expected_avg_order_value"] = _per_customer(gamma_gamma.expected_customer_spend(data=spend))
            out["predicted_clv"] = _per_customer(
                gamma_gamma.expected_customer_lifetime_value(
                    transaction_model=bg_nbd,
                    data=data.copy(),
                    future_t=clv_months,
                    discount_rate=monthly_discount_rate,
                    time_unit=time_unit,
                )
            )
    return _typed(out, PREDICTION_COLUMNS)


# --- helpers ---------------------------------------------------------------------------------------


def _flat_priors(names: Sequence[str]) -> dict[str, Any]:
    from pymc_extras.prior import Prior

    return {name: Prior("HalfFlat") for name in names}


def _build_with_compile_cache(clv_model: Any, data: pd.DataFrame) -> None:
    """Builds the PyMC model of `clv_model` on `data`, with its log-likelihood and gradient compiled once.

    `fit(method="map")` compiles both for the optimiser and `_describe` needs the same two at the
    estimate; compiling is most of a fit's time, so the second request gets the first's function.
    Every function of the model compiles with the data as shared variables, not constants, so its C
    code does not depend on the data: PyTensor's on-disk cache serves the next fit on other data
    (another as-of date) instead of compiling again.
    """
    clv_model.build_model(data)
    model = clv_model.model
    compiled: dict[tuple[Any, ...], Any] = {}
    compile_fn = model.compile_fn

    def compile_with_shared_data(outs: Any, **options: Any) -> Any:
        return compile_fn(_data_as_shared(outs), **options)

    model.compile_fn = compile_with_shared_data

    def cached(compile_function: Any, kind: str) -> Any:
        def compile_once(vars: Any = None, jacobian: bool = True, **options: Any) -> Any:
            names = None if vars is None else tuple(variable.name for variable in vars)
            key = (kind, names, jacobian, tuple(sorted(options.items())))
            if key not in compiled:
                compiled[key] = compile_function(vars, jacobian=jacobian, **options)
            return compiled[key]

        return compile_once

    model.compile_logp = cached(model.compile_logp, "logp")
    model.compile_dlogp = cached(model.compile_dlogp, "dlogp")


def _data_as_shared(outs: Any) -> Any:
    """`outs` with every array constant (the data) replaced by a shared variable of unknown length."""
    import pytensor
    from pytensor.graph.replace import clone_replace
    from pytensor.graph.traversal import graph_inputs
    from pytensor.tensor.variable import TensorConstant

    single = not isinstance(outs, list | tuple)
    listed = [outs] if single else list(outs)
    replacements = {
        variable: pytensor.shared(variable.data, shape=(None,) * variable.ndim)
        for variable in graph_inputs(listed)
        if isinstance(variable, TensorConstant) and variable.ndim > 0 and variable.data.size > 1
    }
    if not replacements:
        return outs
    replaced = clone_replace(listed, replace=replacements, rebuild_strict=False)
    return replaced[0] if single else replaced


def _fit_safely(fit_model, data: pd.DataFrame) -> ModelFit:
    name = BG_NBD if fit_model is fit_bg_nbd else GAMMA_GAMMA
    try:
        fit = fit_model(data)
    except Exception as error:  # any failure of the fit is reported, never fails the night
        log.warning("CLV model %s could not be fitted", name, exc_info=True)
        return _skipped(name, len(data), FAILED, f"{type(error).__name__}: {error}"[:500])
    if not fit.ok:
        log.warning("CLV model %s: %s (%s): predictions are null", name, fit.status, fit.message)
    return fit


def _describe(
    fitted: Any,
    name: str,
    n_customers: int,
    started: float,
    bounds: tuple[float, float] | None = None,
) -> ModelFit:
    """Parameters, log-likelihood and convergence of a MAP fit with HalfFlat (log-transformed) priors."""
    posterior = fitted.idata.posterior
    parameters = {parameter: float(posterior[parameter].values.item()) for parameter in PARAMETERS[name]}
    model = fitted.model
    # Every free variable is HalfFlat, so its value variable is the log of the parameter and the
    # model's log-density without the Jacobian is the log-likelihood.
    rvs = list(model.free_RVs)
    point = {model.rvs_to_values[rv].name: np.log(parameters[rv.name]) for rv in rvs}
    log_likelihood = float(model.compile_logp(jacobian=False)(point))
    # d log-likelihood / d log(parameter), one per parameter, in the order of `rvs`.
    gradient = np.asarray(model.compile_dlogp(rvs, jacobian=False)(point), dtype=float)
    scores = dict(zip([rv.name for rv in rvs], gradient, strict=True))
    fit_seconds = round(time.perf_counter() - started, 3)
    at_bound = [
        parameter
        for parameter, score in scores.items()
        if bounds is not None
        and (
            (parameters[parameter] >= bounds[1] * (1 - 1e-6) and score > 0)
            or (parameters[parameter] <= bounds[0] * (1 + 1e-6) and score < 0)
        )
    ]
    free_scores = [abs(score) for parameter, score in scores.items() if parameter not in at_bound]
    finite = (
        math.isfinite(log_likelihood)
        and all(math.isfinite(value) and value > 0 for value in parameters.values())
        and all(math.isfinite(score) for score in scores.values())
    )
    relative_score = max(free_scores, default=0.0) / max(abs(log_likelihood), 1.0) if finite else math.inf
    converged = bool(finite and relative_score <= RELATIVE_SCORE_TOLERANCE)
    status, message = (OK, None)
    if not converged:
        status = NOT_CONVERGED
        message = f"the optimiser stopped away from a maximum (relative score {relative_score:.2g})"
    elif at_bound:
        message = (
            f"{', '.join(at_bound)} at the search bound: the likelihood keeps rising towards it, "
            "the estimate is the limit"
        )
    return ModelFit(
        name,
        parameters,
        n_customers,
        status,
        message,
        log_likelihood if math.isfinite(log_likelihood) else None,
        converged,
        fit_seconds,
    )


def _replace_status(fit: ModelFit, status: str, message: str) -> ModelFit:
    return ModelFit(
        fit.model,
        fit.parameters,
        fit.n_customers,
        status,
        message,
        fit.log_likelihood,
        fit.converged,
        fit.fit_seconds,
    )


def _skipped(name: str, n_customers: int, status: str, message: str) -> ModelFit:
    return ModelFit(name, dict.fromkeys(PARAMETERS[name]), n_customers, status, message)


def _problem(model: ModelFit) -> str:
    if model.status == THIN_DATA:
        return model.message or THIN_DATA
    return f"{model.model} {model.status}: {model.message}"


def _with_parameters(model_class: Any, data: pd.DataFrame, fit: ModelFit) -> Any:
    """A pymc-marketing model whose 'posterior' is the recorded point estimate (no refit)."""
    import arviz as az

    model = model_class(model_config=_flat_priors(PARAMETERS[fit.model]))
    model.build_model(data)
    model.idata = az.from_dict(
        posterior={name: np.array([[value]], dtype=float) for name, value in fit.parameters.items()}
    )
    return model


def _per_customer(values: Any) -> np.ndarray:
    """A (chain, draw, customer_id) array of a point estimate → one value per customer, in order."""
    dims = [dim for dim in ("chain", "draw") if dim in values.dims]
    return np.asarray(values.mean(dims).transpose("customer_id").values, dtype=float)


def _typed(frame: pd.DataFrame, columns: Mapping[str, str]) -> pd.DataFrame:
    return frame.astype(dict(columns))


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _library_version() -> str | None:
    try:
        return f"pymc-marketing {version('pymc-marketing')}"
    except PackageNotFoundError:
        return None
