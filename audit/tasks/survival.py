"""The survival task: a follow-up time and an event indicator per patient, and the predicted risk of the event by one
or more horizons (prognosis models: who relapses within 5 years).

Spec keys: ``data.time`` (follow-up, > 0, in ``settings.time_unit``), ``data.event`` (1 event, 0 censored),
``settings.horizon`` (one time or a list), ``data.prediction`` (the risk by the horizon: one column for one
horizon, or a mapping horizon -> column), optionally ``data.risk_score`` (a linear predictor; alone it gives
discrimination only), or a fitted model with ``predict_survival_function`` / ``predict_cumulative_hazard``
(lifelines or scikit-survival style, called through those methods).

Arrays behind the seam: the target is ``(n, 2)`` — time, event; the prediction is ``(n, 1 + H)`` — the score
that ranks patients for the concordance (``data.risk_score``, else the risk at the largest horizon), then the
risk by each horizon in ascending order (no columns when only a risk score is given).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..errors import AuditInputError
from ..stats.survival import HORIZON_METRICS, SurvivalMetrics, horizon_key
from .base import Prediction, Target, Task

TOLERANCE = 1e-9
#: Metrics judged once per dataset (the concordance indices), and at each horizon.
SURVIVAL_METRICS: tuple[str, ...] = ("harrell_c", "uno_c")


def horizons(settings: Any) -> tuple[float, ...]:
    """``settings.horizon`` as ascending distinct floats (5 and 5.0 are one horizon)."""
    value = settings.horizon
    values = value if isinstance(value, list) else [value]
    return tuple(sorted({float(v) for v in values}))


def prediction_map(data: Any, settings: Any) -> dict[float, str]:
    """Horizon -> risk column, in ascending horizon order (empty when only a risk score is given)."""
    if data.prediction is None:
        return {}
    if isinstance(data.prediction, str):
        return {horizons(settings)[0]: data.prediction}
    return {float(k): v for k, v in sorted(data.prediction.items(), key=lambda kv: float(kv[0]))}


def check_survival_spec(spec: Any) -> None:
    """The spec's keys for a survival audit agree with each other (raises ``ValueError`` for pydantic)."""
    data, settings = spec.data, spec.settings
    if data.target is not None:
        raise ValueError("a survival audit reads data.time and data.event, not data.target; remove data.target")
    for key in ("time", "event"):
        if getattr(data, key) is None:
            raise ValueError(f"a survival audit needs data.{key}: the column of the "
                             + ("follow-up time (> 0)" if key == "time" else "event indicator (1 event, 0 censored)"))
    if data.time == data.event:
        raise ValueError("data.time and data.event name the same column; the time and the event indicator are two columns")
    if settings.horizon is None:
        raise ValueError("a survival audit needs settings.horizon: the time (or list of times) by which risks are predicted, "
                         "in the unit of data.time, e.g. horizon: 5")
    values = settings.horizon if isinstance(settings.horizon, list) else [settings.horizon]
    if not values:
        raise ValueError("settings.horizon is an empty list; give at least one horizon")
    for v in values:
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"settings.horizon {v!r} is not a positive time; horizons are times after the start of follow-up")
    hs = horizons(settings)
    if isinstance(data.prediction, list):
        raise ValueError("data.prediction for a survival audit is one column (one horizon) or a mapping horizon -> column, "
                         "e.g. {5: risk_5y}, not a list")
    if isinstance(data.prediction, str) and len(hs) > 1:
        raise ValueError(f"data.prediction names one column, but settings.horizon lists {len(hs)} horizons; map each horizon to "
                         "its risk column, e.g. prediction: {1: risk_1y, 5: risk_5y}")
    if isinstance(data.prediction, dict):
        keys = []
        for k in data.prediction:
            if isinstance(k, bool) or not isinstance(k, (int, float)):
                raise ValueError(f"data.prediction maps {k!r} to a column; its keys must be horizons (numbers), e.g. {{5: risk_5y}}")
            keys.append(float(k))
        if len(set(keys)) != len(keys):
            raise ValueError("data.prediction maps the same horizon twice (5 and 5.0 are one horizon); keep one column per horizon")
        if set(keys) != set(hs):
            missing = sorted(set(hs) - set(keys))
            extra = sorted(set(keys) - set(hs))
            raise ValueError("data.prediction must map each horizon of settings.horizon to a column"
                             + (f"; horizon {horizon_key(missing[0])} has none" if missing else
                                f"; {horizon_key(extra[0])} is not in settings.horizon"))
    for key, given, why in (
        ("data.positive_label", data.positive_label is not None, "the event indicator is coded 1 (event) or 0 (censored)"),
        ("data.readers", bool(data.readers), "reader agreement is computed for binary outcomes only"),
        ("data.classes", data.classes is not None, "it is not a classification"),
        ("data.no_finding", data.no_finding is not None, "it is not a multilabel audit"),
        ("settings.binary_views", bool(settings.binary_views), "it is not a multiclass audit"),
    ):
        if given:
            raise ValueError(f"{key} is not used by a survival audit ({why}); remove it")
    if isinstance(settings.threshold, dict):
        raise ValueError("settings.threshold for a survival audit is one risk threshold, e.g. 0.3")
    if settings.sampling == "case-control":
        raise ValueError("settings.sampling: case-control is not defined for a survival audit; a cohort's follow-up is audited")
    from ..labels import METRICS_BY_NAME

    known = sorted(m for m, row in METRICS_BY_NAME.items() if "survival" in row.tasks)
    for metric in settings.targets:
        if metric not in known:
            raise ValueError(f"settings.targets names {metric!r}, which a survival audit does not compute; use one of {', '.join(known)}")


def _numbers(values: pd.Series, column: str, what: str, where: str) -> np.ndarray:
    from ..data import plural

    missing = int(values.isna().sum())
    if missing:
        raise AuditInputError(f"{where}: the {what} column {column!r} is empty in {plural(missing, 'row')} of {len(values)}; "
                              "drop those rows or fill them in.")
    numeric = pd.to_numeric(values, errors="coerce")
    bad = values[numeric.isna()]
    if len(bad):
        raise AuditInputError(f"{where}: the {what} column {column!r} holds {bad.iloc[0]!r}, which is not a number.")
    out = numeric.to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(out)):
        raise AuditInputError(f"{where}: the {what} column {column!r} holds an infinite value.")
    return out


class SurvivalTask(Task):
    """A follow-up time and an event indicator; risks by horizons and/or a risk score."""

    name: ClassVar[str] = "survival"
    metrics: ClassVar[tuple[str, ...]] = HORIZON_METRICS

    def read_target(self, frame: pd.DataFrame, data: Any, where: str) -> Target:
        from ..data import plural

        time = _numbers(frame[data.time], data.time, "follow-up time", where)
        bad = np.flatnonzero(time <= 0)
        if bad.size:
            raise AuditInputError(f"{where}: {plural(int(bad.size), 'row')} of data.time ({data.time!r}) are zero or negative "
                                  f"(first: row {int(bad[0]) + 1}, {time[bad[0]]:g}); follow-up times must be positive.")
        event = _numbers(frame[data.event], data.event, "event", where)
        other = np.flatnonzero((event != 0) & (event != 1))
        if other.size:
            raise AuditInputError(
                f"{where}: data.event ({data.event!r}) holds {event[other[0]]:g}; events are coded 1 (event) or 0 (censored). "
                "Competing risks (several event types) are not supported yet: code the event of interest 1 and censor the rest, "
                "knowing this overestimates risk when competing events are common.")
        if not event.any():
            raise AuditInputError(f"{where}: data.event ({data.event!r}) has no events (every patient is censored); "
                                  "a survival model cannot be validated without events.")
        out = np.column_stack([time, event])
        out.flags.writeable = False
        return Target(out)

    def read_prediction(self, frame: pd.DataFrame, data: Any, settings: Any = None) -> np.ndarray:
        risks = [frame[c].to_numpy(dtype=np.float64) for c in _risk_columns(data)]
        if data.risk_score is not None:
            score = frame[data.risk_score].to_numpy(dtype=np.float64)
        else:
            score = risks[-1]
        return np.column_stack([score, *risks])

    def check_prediction_column(self, frame: pd.DataFrame, data: Any, where: str) -> None:
        from ..data import check_probabilities

        for column in _risk_columns(data):
            check_probabilities(frame[column], column, where)
        if data.risk_score is not None:
            _numbers(frame[data.risk_score], data.risk_score, "risk score", where)

    def check_prediction(self, values: Any, n: int, name: str, where: str) -> Prediction:
        from ..data import plural

        try:
            P = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise AuditInputError(f"{where}: the model returned risks that are not numbers.") from None
        if P.ndim != 2 or P.shape[0] != n or P.shape[1] < 2:
            raise AuditInputError(f"the model returned an array of shape {P.shape} for {n} rows of dataset {name!r}; a survival "
                                  "model must give one risk per horizon and row.")
        if np.isnan(P).any():
            rows = int(np.isnan(P).any(axis=1).sum())
            raise AuditInputError(f"{where}: the model returned NaN risks for {rows} of {n} rows; check those rows' inputs.")
        risks = P[:, 1:]
        outside = (risks < -TOLERANCE) | (risks > 1 + TOLERANCE)
        if outside.any():
            raise AuditInputError(f"{where}: the model returned {plural(int(outside.sum()), 'risk')} outside [0, 1].")
        return Prediction(np.column_stack([P[:, 0], np.clip(risks, 0.0, 1.0)]))

    def outcome_strata(self, target: Target) -> np.ndarray:
        raise AuditInputError("case-control sampling is not defined for a survival audit")  # refused by the spec first

    def kernel(self, target: Target, prediction: Prediction, settings: Any, metrics: tuple[str, ...] = ()) -> SurvivalMetrics:
        T = np.asarray(target.values)
        P = np.asarray(prediction.values)
        risks = P[:, 1:] if P.shape[1] > 1 else None
        return SurvivalMetrics(T[:, 0], T[:, 1], horizons(settings), risks, P[:, 0], float(settings.threshold))

    def summary(self, target: Target, confidence: float, data: Any, settings: Any = None) -> dict:
        from ..stats.survival import censoring_survival, horizon_status, kaplan_meier

        T = np.asarray(target.values)
        time, event = T[:, 0], T[:, 1].astype(int)
        out = {"n": int(time.size), "n_events": int(event.sum())}
        # median follow-up by the reverse Kaplan–Meier (Schemper & Smith, Control Clin Trials 1996)
        grid = np.unique(time)
        g = censoring_survival(time, event, grid)
        below = np.flatnonzero(g <= 0.5)
        out["median_follow_up"] = float(grid[below[0]]) if below.size else None
        out["max_follow_up"] = float(time.max())
        if settings is not None and settings.time_unit:
            out["time_unit"] = settings.time_unit
        if settings is not None and settings.horizon is not None:
            rows = {}
            for h in horizons(settings):
                status = horizon_status(time, event, h)
                rows[horizon_key(h)] = {
                    "at_risk": status.at_risk, "events": status.events,
                    "censored_before": int(((time < h) & (event == 0)).sum()),
                    "observed_risk": float(1 - kaplan_meier(time, event, h)[0]),
                    "censoring_survival": status.censoring_survival,
                    **({"reason": status.reason} if status.reason else {}),
                }
            out["horizons"] = rows
        return out


def _risk_columns(data: Any) -> list[str]:
    """The risk columns in ascending horizon order."""
    if data.prediction is None:
        return []
    if isinstance(data.prediction, str):
        return [data.prediction]
    return [v for _, v in sorted(data.prediction.items(), key=lambda kv: float(kv[0]))]


# --------------------------------------------------------------------------------------------
# Fitted survival models
# --------------------------------------------------------------------------------------------


def model_risks(model: Any, X: pd.DataFrame, hs: tuple[float, ...]) -> np.ndarray:
    """The risk ``1 - S(h | x)`` by each horizon from a fitted survival model, ``(n, H)``.

    Uses ``predict_survival_function(X, times=...)`` (lifelines: a frame of times x patients), or
    ``predict_survival_function(X)`` returning one step function per patient (scikit-survival), or else
    ``predict_cumulative_hazard`` the same ways (risk ``1 - exp(-H)``).
    """
    for method, to_risk in (("predict_survival_function", lambda s: 1.0 - s),
                            ("predict_cumulative_hazard", lambda h: 1.0 - np.exp(-h))):
        fn = getattr(model, method, None)
        if not callable(fn):
            continue
        try:
            out = fn(X, times=list(hs))
        except TypeError:
            out = fn(X)
        if isinstance(out, pd.DataFrame):
            values = out.to_numpy(dtype=np.float64)
            values = values.T if values.shape == (len(hs), len(X)) else values
        else:
            arr = np.asarray(out)
            if arr.dtype == object or (arr.ndim == 1 and callable(arr.flat[0])):
                values = np.array([[float(f(h)) for h in hs] for f in arr])
            else:
                values = np.asarray(arr, dtype=np.float64)
                values = values.T if values.shape == (len(hs), len(X)) and len(hs) != len(X) else values
        return to_risk(values.reshape(len(X), len(hs)))
    raise AuditInputError(f"the model ({type(model).__name__}) has neither predict_survival_function nor "
                          "predict_cumulative_hazard; a survival audit needs one of them, or the risks in data.prediction.")


__all__ = ["SURVIVAL_METRICS", "SurvivalTask", "check_survival_spec", "horizons", "model_risks", "prediction_map"]
