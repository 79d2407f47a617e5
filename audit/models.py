"""Model adapters: a fitted estimator object, a ``.skops`` file or a (trusted) pickle.

``load_model`` turns the spec's model (or an object passed from Python) into a
:class:`ModelAdapter` that maps a table to P(positive); ``predictions`` calls it on one dataset
and checks the output, or reads the spec's prediction column when there is no model.
ONNX and TorchScript are not supported yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from audit.data import Dataset, matching_label, plural
from audit.errors import AuditInputError
from audit.spec import AuditSpec, resolve

SKOPS_SUFFIXES = (".skops",)
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
SUPPORTED = ".skops, .joblib, .pkl, .pickle"
#: Probabilities this far outside [0, 1] (floating-point noise) are clipped instead of rejected.
TOLERANCE = 1e-9


@runtime_checkable
class ModelAdapter(Protocol):
    """Anything that maps a table to a 1-d float array of P(positive), one per row."""

    description: str

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray: ...


@dataclass
class EstimatorAdapter:
    """Wraps a fitted object with ``predict_proba`` (scikit-learn or alike).

    ``features`` is the fixed list of input columns, or None to use every column except
    those in ``exclude``. ``positive_index`` is the column of ``predict_proba`` that holds
    P(positive). ``as_array`` passes a NumPy array instead of a DataFrame (for estimators
    fitted without feature names, which would warn otherwise).
    """

    estimator: Any
    description: str
    positive_index: int
    features: list[str] | None
    exclude: tuple[str, ...] = ()
    as_array: bool = False

    def columns(self, frame: pd.DataFrame) -> list[str]:
        """The input columns for ``frame``, in the model's order; error if any is missing."""
        if self.features is None:
            columns = [column for column in frame.columns if column not in self.exclude]
            expected = getattr(self.estimator, "n_features_in_", None)
            if expected is not None and expected != len(columns):
                raise AuditInputError(
                    f"the model expects {expected} input columns, but the table has {len(columns)} columns besides "
                    "the target, prediction, id and site; list the model's input columns in data.features."
                )
            return columns
        missing = [column for column in self.features if column not in frame.columns]
        if missing:
            shown = ", ".join(repr(column) for column in missing[:10])
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise AuditInputError(
                f"the model needs {plural(len(missing), 'input column')} that the table lacks: {shown}{more}; "
                "add them to the table or correct data.features."
            )
        return list(self.features)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """P(positive) for every row of ``frame`` (extra columns are ignored, order is the model's)."""
        inputs = frame[self.columns(frame)]
        output = np.asarray(self.estimator.predict_proba(inputs.to_numpy() if self.as_array else inputs))
        if output.ndim == 1:
            return output.astype(float)
        if output.ndim != 2 or output.shape[1] <= self.positive_index:
            raise AuditInputError(
                f"the model's predict_proba returned an array of shape {output.shape}; "
                "a binary classifier must return one column per class (shape (n, 2))."
            )
        return output[:, self.positive_index].astype(float)


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_model(spec: AuditSpec, base_dir: Path, model: object | None = None) -> ModelAdapter | None:
    """The spec's model as an adapter, or None when the audit uses ``data.prediction``.

    A ``model`` object passed from Python wins over ``spec.model``. Files: ``.skops`` (types
    outside skops' trusted set need ``trust: true``); ``.joblib``/``.pkl``/``.pickle`` only with
    ``trust: true``, because unpickling runs arbitrary code.
    """
    if model is not None:
        return wrap_estimator(model, spec, source="passed from Python")
    if spec.model is None:
        return None
    path = resolve(base_dir, spec.model.path)
    estimator = load_model_file(path, spec.model.path, trust=spec.model.trust)
    return wrap_estimator(estimator, spec, source=f"from {Path(spec.model.path).name}")


def load_model_file(path: Path, written: str, *, trust: bool) -> Any:
    """Load a model file by extension; every failure becomes an ``AuditInputError`` naming the file."""
    suffix = path.suffix.lower()
    if suffix not in SKOPS_SUFFIXES + PICKLE_SUFFIXES:
        raise AuditInputError(
            f"model file {written!r} has the unsupported format {suffix or '(no extension)'!r}; "
            f"save it in a supported format ({SUPPORTED}); ONNX and TorchScript are not supported yet."
        )
    if not path.exists():
        raise AuditInputError(
            f"model file {str(path)!r} does not exist; check model.path (relative paths are relative to the spec file)."
        )
    if suffix in SKOPS_SUFFIXES:
        return _load_skops(path, written, trust)
    return _load_pickle(path, written, trust)


def _load_skops(path: Path, written: str, trust: bool) -> Any:
    """Load a ``.skops`` file, refusing untrusted types unless ``trust`` is set."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # noqa: BLE001 - a corrupt file, whatever skops raises
        raise _unreadable(written, exc) from None
    if untrusted and not trust:
        shown = ", ".join(untrusted[:8]) + (f" and {len(untrusted) - 8} more" if len(untrusted) > 8 else "")
        raise AuditInputError(
            f"model file {written!r} contains types that skops does not trust by default ({shown}); "
            f"only if the file comes from a trusted source, set model: {{path: {written}, trust: true}} in the spec."
        )
    try:
        return sio.load(path, trusted=untrusted or None)
    except Exception as exc:  # noqa: BLE001
        raise _unreadable(written, exc) from None


def _load_pickle(path: Path, written: str, trust: bool) -> Any:
    """Load a joblib/pickle file, but only with ``trust``: unpickling runs arbitrary code."""
    if not trust:
        raise AuditInputError(
            f"model file {written!r} is a pickle, and loading a pickle runs arbitrary code; if the file comes from "
            f"a trusted source, set model: {{path: {written}, trust: true}} in the spec, or better, save the model "
            "with skops.io.dump as a .skops file."
        )
    import joblib

    try:
        return joblib.load(path)
    except Exception as exc:  # noqa: BLE001
        raise _unreadable(written, exc) from None


def _unreadable(written: str, exc: BaseException) -> AuditInputError:
    """The error for a model file that exists but cannot be loaded."""
    message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return AuditInputError(
        f"model file {written!r} could not be loaded ({type(exc).__name__}: {message}); "
        "check that it is a complete, uncorrupted model file written by a compatible library version."
    )


# --------------------------------------------------------------------------------------------
# Wrapping an estimator
# --------------------------------------------------------------------------------------------


def wrap_estimator(estimator: Any, spec: AuditSpec, *, source: str) -> EstimatorAdapter:
    """Check that ``estimator`` is a fitted binary classifier and wrap it for the spec's tables."""
    if not callable(getattr(estimator, "predict_proba", None)):
        raise AuditInputError(
            f"the model {source} ({type(estimator).__name__}) has no predict_proba method; trustaudit audits "
            "classifiers that output probabilities, so wrap it or give precomputed probabilities in data.prediction."
        )
    features = feature_columns(estimator, spec)
    data = spec.data
    exclude = tuple(column for column in (data.target, data.prediction, data.id, data.site) if column is not None)
    return EstimatorAdapter(
        estimator=estimator,
        description=f"{describe_estimator(estimator)} {source}",
        positive_index=positive_index(estimator, data.positive_label),
        features=features,
        exclude=exclude,
        as_array=hasattr(estimator, "n_features_in_") and not hasattr(estimator, "feature_names_in_"),
    )


def positive_index(estimator: Any, positive_label: Any) -> int:
    """The column of ``predict_proba`` for the positive class.

    The index of ``positive_label`` in ``classes_`` if given, else of 1/True, else the second
    class. Without ``classes_``, the second column.
    """
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        return 1
    classes = [value.item() if isinstance(value, np.generic) else value for value in np.asarray(classes).tolist()]
    if len(classes) != 2:
        raise AuditInputError(
            f"the model has {len(classes)} classes ({', '.join(repr(c) for c in classes[:6])}), but trustaudit "
            "audits binary classifiers; retrain it on two classes."
        )
    if positive_label is not None:
        match = matching_label(classes, positive_label)
        if match is None:
            raise AuditInputError(
                f"data.positive_label {positive_label!r} is not one of the model's classes "
                f"({classes[0]!r}, {classes[1]!r}); set it to the class the model calls positive."
            )
        return classes.index(match)
    match = matching_label(classes, 1)
    return classes.index(match) if match is not None and not isinstance(match, str) else 1


def feature_columns(estimator: Any, spec: AuditSpec) -> list[str] | None:
    """The model's input columns: ``data.features``, else ``feature_names_in_``, else None (all others).

    When both ``data.features`` and ``feature_names_in_`` exist they must name the same
    columns; the model's own order is then used.
    """
    trained = getattr(estimator, "feature_names_in_", None)
    trained = [str(name) for name in trained] if trained is not None else None
    listed = spec.data.features
    if listed is None:
        return trained
    if trained is not None and set(trained) != set(listed):
        extra = sorted(set(listed) - set(trained))
        lacking = sorted(set(trained) - set(listed))
        parts = ([f"lists {extra} which the model was not trained on"] if extra else []) + (
            [f"omits {lacking} which the model needs"] if lacking else []
        )
        raise AuditInputError(
            f"data.features {' and '.join(parts)}; make data.features match the model's input columns "
            "or remove it to use the model's own list."
        )
    return trained if trained is not None else list(listed)


def describe_estimator(estimator: Any) -> str:
    """A short name: ``sklearn Pipeline (StandardScaler → LogisticRegression)``, ``XGBClassifier``, ..."""
    module = type(estimator).__module__.split(".")[0]
    prefix = "sklearn " if module == "sklearn" else ""
    name = f"{prefix}{type(estimator).__name__}"
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list) and steps:
        name += " (" + " → ".join(type(step).__name__ for _, step in steps) + ")"
    return name


# --------------------------------------------------------------------------------------------
# Predictions
# --------------------------------------------------------------------------------------------


def predictions(adapter: ModelAdapter | None, dataset: Dataset, spec: AuditSpec) -> np.ndarray:
    """P(positive) for every row of ``dataset``: from the model, or from ``data.prediction``.

    The model's output is checked: one value per row, no NaN, inside [0, 1] (values within
    1e-9 of the bounds are clipped). Errors name the dataset.
    """
    where = f"dataset {dataset.name!r} ({dataset.path})"
    if adapter is None:
        if spec.data.prediction is None:
            raise AuditInputError("there is no model and no data.prediction column; give one of them in the spec.")
        return dataset.frame[spec.data.prediction].to_numpy(dtype=float)
    try:
        scores = adapter.predict_proba(dataset.frame)
    except AuditInputError as exc:
        raise AuditInputError(f"{where}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - the user's model failing on the user's data
        message = (str(exc).strip().splitlines() or [""])[0]
        raise AuditInputError(
            f"{where}: the model failed to predict ({type(exc).__name__}: {message}); check that the feature "
            "columns have the names and types the model was trained on."
        ) from None
    return check_scores(scores, dataset, where)


def check_scores(scores: Any, dataset: Dataset, where: str) -> np.ndarray:
    """Validate a model's P(positive): 1-d, one per row, no NaN, inside [0, 1]."""
    try:
        scores = np.asarray(scores, dtype=float)
    except (TypeError, ValueError):
        raise AuditInputError(f"{where}: the model returned predictions that are not numbers.") from None
    scores = scores.reshape(-1) if scores.ndim == 2 and 1 in scores.shape else scores
    if scores.ndim != 1 or scores.shape[0] != dataset.n:
        count = scores.shape[0] if scores.ndim == 1 else f"an array of shape {scores.shape} as"
        raise AuditInputError(
            f"the model returned {count} predictions for {dataset.n} rows of dataset {dataset.name!r}; "
            "it must return one probability per row."
        )
    missing = int(np.isnan(scores).sum())
    if missing:
        raise AuditInputError(f"{where}: the model returned NaN for {missing} of {dataset.n} rows; check those rows' inputs.")
    outside = (scores < -TOLERANCE) | (scores > 1 + TOLERANCE)
    if outside.any():
        raise AuditInputError(
            f"{where}: the model returned {plural(int(outside.sum()), 'value')} outside [0, 1] "
            f"(min {scores.min():g}, max {scores.max():g}); its predict_proba must return probabilities."
        )
    return np.clip(scores, 0.0, 1.0)
