"""Model adapters: a fitted estimator object, a ``.skops`` file, a (trusted) pickle, a PyTorch
model (``nn.Module`` object, TorchScript file or state dict) or an ``.onnx`` file.

``load_model`` turns the spec's model (or an object passed from Python) into a
:class:`ModelAdapter` that maps a table to P(positive); ``predictions`` calls it on one dataset
and checks the output, or reads the spec's prediction column when there is no model. PyTorch
and ONNX adapters also map an input array (``predict_array``: ``.npz`` datasets), in batches.
The PyTorch adapter exposes a differentiable ``attack_module`` for adversarial attacks.

Code runs only when trusted: a pickle, skops types outside skops' trusted set and
``model.architecture`` (a Python file or module that builds the network) need ``trust: true``,
checked before anything is imported or loaded. The user's code (the architecture, a model's
``predict_proba`` or ``forward``, an unpickled object) runs inside :func:`running_user_code`, so
that a ``sys.exit`` in it becomes a plain error instead of ending the audit silently. Zipped model
files (``.skops``, ``.pt``) are held to ``settings.max_input_mb`` before loading.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from audit.data import (
    DEFAULT_MAX_INPUT_MB,
    MB,
    Dataset,
    check_archive_size,
    first_line,
    input_limit,
    matching_label,
    plural,
)
from audit.errors import AuditInputError, TrustRequired
from audit.spec import AuditSpec, resolve
from audit.tasks import get_task
from audit.tasks.multiclass import class_labels

SKOPS_SUFFIXES = (".skops",)
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
SUPPORTED = ".skops, .joblib, .pkl, .pickle, .onnx, .pt, .pth"
ONNX_SUFFIXES = (".onnx",)
TORCH_SUFFIXES = (".pt", ".pth", ".ts", ".torchscript")


@runtime_checkable
class ModelAdapter(Protocol):
    """Anything that maps a table to a 1-d float array of P(positive), one per row."""

    description: str

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray: ...

    def modules(self) -> set[str]:
        """Top-level names of the Python packages the model runs on (for provenance)."""
        ...


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
    #: multiclass: the column of ``predict_proba`` of each class of ``data.classes``, in that order (else None)
    class_order: tuple[int, ...] | None = None
    #: multilabel: the number of labels (``predict_proba`` gives one probability per label), else None
    n_labels: int | None = None

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
            raise AuditInputError(
                f"the model needs {plural(len(missing), 'input column')} that the table lacks: {_names(missing)}; "
                "add them to the table or correct data.features."
            )
        return list(self.features)

    def modules(self) -> set[str]:
        """The packages of the estimator and of every estimator nested in it (pipeline steps, wrapped models)."""
        return estimator_modules(self.estimator)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """P(positive) for every row of ``frame`` (extra columns are ignored, order is the model's)."""
        inputs = frame[self.columns(frame)]
        with running_user_code("the model's predict_proba"):
            raw = self.estimator.predict_proba(inputs.to_numpy() if self.as_array else inputs)
        output = np.asarray(raw) if not isinstance(raw, list) else np.empty(0)
        if self.n_labels is not None:
            return label_probabilities(raw, self.n_labels)
        if self.class_order is not None:
            if output.ndim != 2 or output.shape[1] <= max(self.class_order):
                raise AuditInputError(f"the model's predict_proba returned an array of shape {output.shape}; a multiclass "
                                      f"classifier must return one column per class (shape (n, {len(self.class_order)})).")
            return output[:, list(self.class_order)].astype(float)
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
    ``trust: true``, because unpickling runs arbitrary code; ``model.architecture`` only with
    ``trust: true``, because it imports and runs Python code (refused before anything is imported).
    """
    if model is not None:
        if spec.task == "survival":
            return survival_adapter(model, spec, source="passed from Python")
        if _is_torch_module(model):
            return torch_adapter(model, spec, source="passed from Python")
        return wrap_estimator(model, spec, source="passed from Python")
    if spec.model is None:
        return None
    if spec.model.architecture is not None:
        require_trusted_architecture(spec.model.architecture, spec.model.path, spec.model.trust)
    path = resolve(base_dir, spec.model.path)
    kind = model_kind(spec)
    if kind in ("torchscript", "torch_state_dict"):
        return load_torch_model(path, spec, base_dir, kind)
    if kind == "onnx":
        return load_onnx_model(path, spec)
    estimator = load_model_file(path, spec.model.path, trust=spec.model.trust, max_bytes=input_limit(spec))
    if spec.task == "survival":
        return survival_adapter(estimator, spec, source=f"from {Path(spec.model.path).name}")
    return wrap_estimator(estimator, spec, source=f"from {Path(spec.model.path).name}")


def model_kind(spec: AuditSpec) -> str:
    """``model.kind``, else from the extension: ``.onnx`` → onnx, ``.pt``/``.pth`` → TorchScript
    (or a state dict when ``model.architecture`` is given), anything else → sklearn."""
    model = spec.model
    if model.kind is not None:
        return model.kind
    suffix = Path(model.path).suffix.lower()
    if suffix in ONNX_SUFFIXES:
        return "onnx"
    if suffix in TORCH_SUFFIXES:
        return "torch_state_dict" if model.architecture is not None else "torchscript"
    return "sklearn"


def _is_torch_module(model: object) -> bool:
    """True for a ``torch.nn.Module`` (without importing torch when the caller has not)."""
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def require_trusted_architecture(target: str, written: str | None, trust: bool) -> None:
    """Refuse ``model.architecture`` unless ``trust`` is set: building the network imports and runs the user's code."""
    if trust:
        return
    where = f"path: {written}, " if written else ""
    raise TrustRequired(
        f"model.architecture {target!r} is Python code that would be imported and run to build the network, and "
        "code runs only with your consent; if it comes from a trusted source, add trust: true to the model block "
        f"(model: {{{where}architecture: {target!r}, trust: true}})."
    )


@contextmanager
def running_user_code(what: str) -> Iterator[None]:
    """Run the user's code, turning a ``sys.exit`` in it into a plain ``AuditInputError`` naming ``what``.

    ``what`` names the code, e.g. ``"the model's predict_proba"``. ``SystemExit`` (and any other
    ``BaseException`` that is neither an ``Exception`` nor Ctrl-C's ``KeyboardInterrupt``) would
    otherwise end the audit with no report and no message. Ordinary exceptions pass through for
    the caller to explain; ``KeyboardInterrupt`` passes through to the command line.
    """
    try:
        yield
    except (Exception, KeyboardInterrupt):
        raise
    except SystemExit as exc:
        raise AuditInputError(
            f"{what} called sys.exit({_exit_code(exc.code)}), which would have ended trustaudit without a report; "
            "change the code to raise an exception or return instead."
        ) from None
    except BaseException as exc:  # noqa: BLE001 - GeneratorExit or a user's own BaseException subclass
        raise AuditInputError(
            f"{what} raised {type(exc).__name__} ({first_line(exc)}), which is not an ordinary error and would have "
            "ended trustaudit without a report; change the code to raise an Exception instead."
        ) from None


def _exit_code(code: Any) -> str:
    """``sys.exit``'s argument as written: ``3``, ``'bye'``, nothing for None (plain values, cut to 60 characters)."""
    if code is None:
        return ""
    code = code.item() if isinstance(code, np.generic) else code
    text = repr(code)
    return text if len(text) <= 60 else text[:57] + "..."


def _names(names: list, limit: int = 6) -> str:
    """At most ``limit`` names, quoted and cut to 40 characters, then ``and N more``."""
    shown = ", ".join(repr(name if len(str(name)) <= 40 else str(name)[:37] + "...") for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def load_model_file(path: Path, written: str, *, trust: bool, max_bytes: int | None = None) -> Any:
    """Load a model file by extension; every failure becomes an ``AuditInputError`` naming the file.

    A ``.skops`` archive that would take more than ``max_bytes`` once decompressed (default
    ``settings.max_input_mb``'s) is refused before it is loaded.
    """
    suffix = path.suffix.lower()
    if suffix not in SKOPS_SUFFIXES + PICKLE_SUFFIXES:
        raise AuditInputError(
            f"model file {written!r} has the unsupported format {suffix or '(no extension)'!r}; "
            f"save it in a supported format ({SUPPORTED})."
        )
    require_model_file(path)
    if suffix in SKOPS_SUFFIXES:
        check_archive_size(path, f"model file {written!r}", _limit(max_bytes))
        return _load_skops(path, written, trust)
    return _load_pickle(path, written, trust)


def _limit(max_bytes: int | None) -> int:
    """``max_bytes``, else the default of ``settings.max_input_mb`` in bytes."""
    return DEFAULT_MAX_INPUT_MB * MB if max_bytes is None else int(max_bytes)


def require_model_file(path: Path) -> None:
    """A missing model file is bad input, named with the fix."""
    if not path.exists():
        raise AuditInputError(
            f"model file {str(path)!r} does not exist; check model.path (relative paths are relative to the spec file)."
        )


def _load_skops(path: Path, written: str, trust: bool) -> Any:
    """Load a ``.skops`` file, refusing untrusted types unless ``trust`` is set."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # noqa: BLE001 - a corrupt file, whatever skops raises
        raise _unreadable(written, exc) from None
    if untrusted and not trust:
        shown = ", ".join(name if len(name) <= 100 else name[:97] + "..." for name in untrusted[:4])
        shown += f" and {len(untrusted) - 4} more" if len(untrusted) > 4 else ""
        raise TrustRequired(
            f"model file {written!r} contains types that skops does not trust by default ({shown}); "
            f"only if the file comes from a trusted source, set model: {{path: {written}, trust: true}} in the spec."
        )
    try:
        with running_user_code(f"loading model file {written!r}"):
            return sio.load(path, trusted=untrusted or None)
    except AuditInputError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise _unreadable(written, exc) from None


def _load_pickle(path: Path, written: str, trust: bool) -> Any:
    """Load a joblib/pickle file, but only with ``trust``: unpickling runs arbitrary code."""
    if not trust:
        raise TrustRequired(
            f"model file {written!r} is a pickle, and loading a pickle runs arbitrary code; if the file comes from "
            f"a trusted source, set model: {{path: {written}, trust: true}} in the spec, or better, save the model "
            "with skops.io.dump as a .skops file."
        )
    import joblib

    try:
        with running_user_code(f"unpickling model file {written!r}"):
            return joblib.load(path)
    except AuditInputError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise _unreadable(written, exc) from None


def _unreadable(written: str, exc: BaseException) -> AuditInputError:
    """The error for a model file that exists but cannot be loaded."""
    return AuditInputError(
        f"model file {written!r} could not be loaded ({type(exc).__name__}: {first_line(exc)}); "
        "check that it is a complete, uncorrupted model file written by a compatible library version."
    )


# --------------------------------------------------------------------------------------------
# Wrapping an estimator
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurvivalModelAdapter:
    """Wraps a fitted survival model (lifelines or scikit-survival style): ``predict_proba`` gives, per row, the score
    that ranks patients (``data.risk_score`` when given, else the risk at the largest horizon) and the risk by each
    horizon (``audit.tasks.survival.model_risks``)."""

    estimator: Any
    description: str
    horizons: tuple[float, ...]
    features: list[str] | None
    exclude: tuple[str, ...] = ()
    risk_score: str | None = None

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        from .tasks.survival import model_risks

        columns = self.features if self.features is not None else [c for c in frame.columns if c not in self.exclude]
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise AuditInputError(f"the table has no column {missing[0]!r}, which the model reads (data.features)")
        with running_user_code(f"the model ({self.description})"):
            risks = model_risks(self.estimator, frame[columns], self.horizons)
        score = frame[self.risk_score].to_numpy(dtype=np.float64) if self.risk_score is not None else risks[:, -1]
        return np.column_stack([score, risks])

    def modules(self) -> set[str]:
        """The top-level package of the model's class (lifelines, sksurv, ...), for provenance."""
        return {type(self.estimator).__module__.split(".")[0]}


def survival_adapter(estimator: Any, spec: AuditSpec, *, source: str) -> SurvivalModelAdapter:
    """Check that ``estimator`` has a survival model's prediction methods and wrap it for the spec's tables."""
    from .tasks.survival import horizons

    if not any(callable(getattr(estimator, m, None)) for m in ("predict_survival_function", "predict_cumulative_hazard")):
        raise AuditInputError(
            f"the model {source} ({type(estimator).__name__}) has neither predict_survival_function nor predict_cumulative_hazard; "
            "a survival audit needs one of them (lifelines and scikit-survival models have both), or the risks in data.prediction."
        )
    data = spec.data
    exclude = tuple(c for c in (*data.target_columns, *data.model_output_columns, data.id, data.site, data.cluster, *data.sensitive)
                    if c is not None)
    return SurvivalModelAdapter(estimator, f"{type(estimator).__name__} {source}", horizons(spec.settings),
                                list(data.features) if data.features is not None else None, exclude, data.risk_score)


def wrap_estimator(estimator: Any, spec: AuditSpec, *, source: str) -> EstimatorAdapter:
    """Check that ``estimator`` is a fitted binary classifier and wrap it for the spec's tables."""
    with running_user_code(f"the model {source}"):
        return _wrap_estimator(estimator, spec, source)


def _wrap_estimator(estimator: Any, spec: AuditSpec, source: str) -> EstimatorAdapter:
    if not callable(getattr(estimator, "predict_proba", None)):
        raise AuditInputError(
            f"the model {source} ({type(estimator).__name__}) has no predict_proba method; trustaudit audits "
            "classifiers that output probabilities, so wrap it or give precomputed probabilities in data.prediction."
        )
    features = feature_columns(estimator, spec)
    data = spec.data
    exclude = tuple(column for column in (*data.target_columns, *data.prediction_columns, data.id, data.site) if column is not None)
    multiclass, multilabel = spec.task == "multiclass", spec.task == "multilabel"
    return EstimatorAdapter(
        estimator=estimator,
        description=f"{describe_estimator(estimator)} {source}",
        positive_index=0 if multiclass or multilabel else positive_index(estimator, data.positive_label),
        class_order=class_order(estimator, data) if multiclass else None,
        n_labels=len(data.target_columns) if multilabel else None,
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
            f"the model has {len(classes)} classes ({_names(classes)}), but trustaudit "
            "audits binary classifiers; retrain it on two classes."
        )
    if positive_label is not None:
        match = matching_label(classes, positive_label)
        if match is None:
            raise AuditInputError(
                f"data.positive_label {positive_label!r} is not one of the model's classes "
                f"({_names(classes)}); set it to the class the model calls positive."
            )
        return classes.index(match)
    match = matching_label(classes, 1)
    return classes.index(match) if match is not None and not isinstance(match, str) else 1


def label_probabilities(raw: Any, n_labels: int) -> np.ndarray:
    """One probability per label from a multilabel ``predict_proba``: scikit-learn returns either an ``(n, K)``
    array (one-vs-rest, neural networks) or a list of K ``(n, 2)`` arrays (multi-output, forests): their
    second column, P(label present)."""
    if isinstance(raw, list):
        if len(raw) != n_labels:
            raise AuditInputError(f"the model's predict_proba returned {len(raw)} outputs, but data.target lists {n_labels} labels.")
        columns = []
        for part in raw:
            part = np.asarray(part, dtype=float)
            columns.append(part[:, -1] if part.ndim == 2 else part)
        return np.column_stack(columns)
    out = np.asarray(raw, dtype=float)
    if out.ndim != 2 or out.shape[1] != n_labels:
        raise AuditInputError(f"the model's predict_proba returned an array of shape {out.shape}, but data.target lists "
                              f"{n_labels} labels; a multilabel model returns one probability per label (shape (n, {n_labels})).")
    return out


def class_order(estimator: Any, data: Any) -> tuple[int, ...]:
    """The column of ``predict_proba`` of each class of ``data.classes``, matched by label (as text) to ``classes_``."""
    from .tasks.multiclass import class_labels, label_text

    wanted = [label_text(c) for c in class_labels(data)]
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        return tuple(range(len(wanted)))  # no classes_: its columns are taken to be in data.classes order
    have = [label_text(c) for c in np.asarray(classes).tolist()]
    missing = [c for c in wanted if c not in have]
    extra = [c for c in have if c not in wanted]
    if missing or extra:
        raise AuditInputError(
            f"the model's classes ({_names(have)}) and data.classes ({_names(wanted)}) differ"
            + (f": the model has no class {missing[0]!r}" if missing else f": data.classes lacks the model's class {extra[0]!r}")
            + "; list exactly the model's classes in data.classes (in any order: they are matched by label)."
        )
    return tuple(have.index(c) for c in wanted)


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
        parts = ([f"lists [{_names(extra)}] which the model was not trained on"] if extra else []) + (
            [f"omits [{_names(lacking)}] which the model needs"] if lacking else []
        )
        raise AuditInputError(
            f"data.features {' and '.join(parts)}; make data.features match the model's input columns "
            "or remove it to use the model's own list."
        )
    return trained if trained is not None else list(listed)


def estimator_modules(estimator: Any) -> set[str]:
    """Top-level package names of ``estimator`` and of the estimators scikit-learn's ``get_params(deep=True)`` nests in it."""
    found = {type(estimator).__module__.split(".")[0]}
    try:
        with running_user_code("the model's get_params"):
            params = estimator.get_params(deep=True) if hasattr(estimator, "get_params") else {}
    except AuditInputError:
        raise
    except Exception:  # noqa: BLE001 - a foreign estimator's get_params; its own package is still recorded
        params = {}
    for value in params.values():
        if hasattr(value, "fit") or hasattr(value, "predict_proba") or hasattr(value, "transform"):
            found.add(type(value).__module__.split(".")[0])
    return found


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
        if spec.data.prediction is None and spec.data.risk_score is None:
            raise AuditInputError("there is no model and no data.prediction column; give one of them in the spec.")
        return get_task(spec.task).read_prediction(dataset.frame, spec.data)
    try:
        if dataset.x is not None:
            predict_array = getattr(adapter, "predict_array", None)
            if predict_array is None:
                raise AuditInputError(
                    f"this dataset is an array file (.npz), but the model ({adapter.description}) reads tables; "
                    "give the data as a CSV/Parquet table or use a PyTorch or ONNX model"
                )
            scores = predict_array(dataset.x)
        else:
            scores = adapter.predict_proba(dataset.frame)
    except AuditInputError as exc:
        raise AuditInputError(f"{where}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - the user's model failing on the user's data
        raise AuditInputError(
            f"{where}: the model failed to predict ({type(exc).__name__}: {first_line(exc)}); check that the feature "
            "columns have the names and types the model was trained on."
        ) from None
    return get_task(spec.task).check_prediction(scores, dataset.n, dataset.name, where).values


# --------------------------------------------------------------------------------------------
# Array models: PyTorch and ONNX
# --------------------------------------------------------------------------------------------


def table_columns(features: list[str] | None, exclude: tuple[str, ...], frame: pd.DataFrame) -> list[str]:
    """Input columns of a table for an array model: ``data.features``, else every column not excluded."""
    if features is None:
        return [column for column in frame.columns if column not in exclude]
    missing = [column for column in features if column not in frame.columns]
    if missing:
        raise AuditInputError(
            f"the model needs {plural(len(missing), 'input column')} that the table lacks: {_names(missing)}; "
            "add them to the table or correct data.features."
        )
    return list(features)


def table_array(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """The feature columns as a float32 array (an array model takes numbers only)."""
    inputs = frame[columns]
    text = [column for column in columns if not pd.api.types.is_numeric_dtype(inputs[column])]
    if text:
        raise AuditInputError(
            f"the model takes numeric inputs, but the column {_names(text[:1])} is not numeric; encode it as numbers "
            "before the audit or list only numeric columns in data.features."
        )
    return inputs.to_numpy(dtype=np.float32)


def _batches(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def log_odds_from_output(output: np.ndarray, kind: str, index: int | None) -> np.ndarray:
    """Log-odds of P(positive) from a model's raw output (NumPy).

    ``kind`` is ``"logits"`` or ``"probabilities"``. One column (or a 1-d output) is a single
    logit / probability of the positive class; K columns are class scores, the positive class
    being ``index`` (default 1 when K = 2). For logits the log-odds is ``z_pos − logsumexp(others)``,
    for probabilities ``log p − log(1 − p)``.
    """
    output = np.asarray(output, dtype=np.float64)
    if output.ndim == 1 or (output.ndim == 2 and output.shape[1] == 1):
        z = output.reshape(-1)
        if kind == "probabilities":
            p = np.clip(z, 1e-12, 1 - 1e-12)
            return np.log(p) - np.log1p(-p)
        return z
    if output.ndim != 2:
        raise AuditInputError(
            f"the model returned an array of shape {output.shape}; a binary classifier must return one score per "
            "row (a single logit) or one per class."
        )
    k = output.shape[1]
    j = _positive_output(k, index)
    if kind == "probabilities":
        p = np.clip(output[:, j], 1e-12, 1 - 1e-12)
        return np.log(p) - np.log1p(-p)
    others = np.delete(output, j, axis=1)
    top = others.max(axis=1, keepdims=True)
    return output[:, j] - (top[:, 0] + np.log(np.exp(others - top).sum(axis=1)))


def _positive_output(k: int, index: int | None) -> int:
    if index is None:
        if k != 2:
            raise AuditInputError(
                f"the model returns {k} scores per row; set model.output_index to the position of the positive class."
            )
        return 1
    if index >= k:
        raise AuditInputError(f"model.output_index is {index}, but the model returns only {k} scores per row (positions 0 to {k - 1}).")
    return index


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


@dataclass
class TorchAdapter:
    """A PyTorch classifier: inputs in [0, 1] (images N×C×H×W or features N×F) → P(positive).

    ``mean``/``std`` (``model.normalize``) are applied inside the adapter, so the model sees
    ``(x − mean) / std`` while data, corruptions and attacks stay in the [0, 1] space.
    ``attack_module(threshold)`` returns a differentiable ``nn.Module`` with two logits
    ``[negative, positive − logit(threshold)]`` (a two-logit model keeps its own; a single logit
    ``z`` becomes ``[0, z]``): their difference is the log-odds minus the threshold's, so the
    arg-max is the decision at the threshold and the cross-entropy is the binary one.
    """

    module: Any
    description: str
    output: str = "logits"
    output_index: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    batch_size: int = 256
    device: str = "cpu"
    features: list[str] | None = None
    exclude: tuple[str, ...] = ()
    #: multiclass: the number of classes (the model returns one score per class), else None
    n_classes: int | None = None
    #: multilabel: the number of labels (the model returns one logit or probability per label), else None
    n_labels: int | None = None

    def modules(self) -> set[str]:
        return {"torch", type(self.module).__module__.split(".")[0]}

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.predict_array(table_array(frame, table_columns(self.features, self.exclude, frame)))

    def predict_array(self, x: np.ndarray) -> np.ndarray:
        """P(positive) per row (multiclass: the K class probabilities), in batches of ``batch_size`` without gradients."""
        import torch

        if self.n_classes is not None or self.n_labels is not None:
            k = self.n_classes or self.n_labels
            scorer = self.class_module()
            out = np.empty((x.shape[0], k), dtype=np.float64)
            with torch.no_grad():
                for rows in _batches(x.shape[0], self.batch_size):
                    batch = torch.from_numpy(np.array(x[rows], dtype=np.float32)).to(self.device)
                    scores = scorer(batch).double().cpu().numpy()
                    out[rows] = class_probabilities(scores, "logits", k) if self.n_labels is None else _sigmoid(scores)
            return out
        scorer = self.attack_module(0.5)
        out = np.empty(x.shape[0], dtype=np.float64)
        with torch.no_grad():
            for rows in _batches(x.shape[0], self.batch_size):
                batch = torch.from_numpy(np.array(x[rows], dtype=np.float32)).to(self.device)
                out[rows] = _sigmoid(scorer.log_odds(batch).double().cpu().numpy())
        return out

    def attack_module(self, threshold: float = 0.5):
        """The model as torchattacks sees it: [0, 1] inputs → two logits, shifted by the threshold
        (multiclass: the K class logits, attacked as a K-class model)."""
        if self.n_classes is not None:
            return self.class_module()
        return _binary_head_class()(self.module, self.mean, self.std, self.output, self.output_index, threshold).to(self.device).eval()

    def class_module(self):
        """[0, 1] inputs → K class logits (log-probabilities for a model that outputs probabilities)."""
        k = self.n_classes or self.n_labels
        head = _class_head_class()(self.module, self.mean, self.std, self.output, k).to(self.device).eval()
        head.per_label = self.n_labels is not None
        return head


_HEAD_CLASS = None


def _binary_head_class():
    """``BinaryHead(nn.Module)``, defined on first use so that importing this module needs no torch."""
    global _HEAD_CLASS
    if _HEAD_CLASS is not None:
        return _HEAD_CLASS
    import math

    import torch
    from torch import nn

    class BinaryHead(nn.Module):
        """Normalise, run the model, map its output to the log-odds of the positive class."""

        def __init__(self, model, mean, std, output, output_index, threshold):
            super().__init__()
            self.model = model
            self.kind = "probabilities" if output == "probabilities" else "logits"
            self.output_index = output_index
            self.offset = math.log(threshold / (1 - threshold)) if 0 < threshold < 1 else 0.0
            if mean is not None:
                self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
                self.register_buffer("std", torch.tensor(std, dtype=torch.float32))
            else:
                self.mean = self.std = None

        def pair(self, x):
            """(negative, positive) scores whose difference is the log-odds of the positive class.

            A two-logit model keeps its own logits, so the attack's cross-entropy (and its
            floating-point rounding) is exactly the one torchattacks computes on the model itself.
            """
            if self.mean is not None:
                shape = (1, -1) + (1,) * (x.dim() - 2)
                x = (x - self.mean.view(shape)) / self.std.view(shape)
            with running_user_code("the model's forward"):
                out = self.model(x)
            if isinstance(out, (tuple, list)):
                out = out[0]
            if out.dim() == 1 or (out.dim() == 2 and out.shape[1] == 1):
                z = out.reshape(-1)
                if self.kind == "probabilities":
                    z = torch.logit(z.clamp(1e-12, 1 - 1e-12))
                return torch.zeros_like(z), z
            j = _positive_output(int(out.shape[1]), self.output_index)
            if self.kind == "probabilities":
                z = torch.logit(out[:, j].clamp(1e-12, 1 - 1e-12))
                return torch.zeros_like(z), z
            if out.shape[1] == 2:
                return out[:, 1 - j], out[:, j]
            others = torch.cat([out[:, :j], out[:, j + 1 :]], dim=1)
            return torch.logsumexp(others, dim=1), out[:, j]

        def log_odds(self, x):
            negative, positive = self.pair(x)
            return positive - negative

        def forward(self, x):
            negative, positive = self.pair(x)
            return torch.stack([negative, positive - self.offset], dim=1)

    _HEAD_CLASS = BinaryHead
    return BinaryHead


_CLASS_HEAD = None


def _class_head_class():
    """``ClassHead(nn.Module)``: normalise, run a K-class model, return K logits (defined on first use: no torch import)."""
    global _CLASS_HEAD
    if _CLASS_HEAD is not None:
        return _CLASS_HEAD
    import torch
    from torch import nn

    class ClassHead(nn.Module):
        def __init__(self, model, mean, std, output, n_classes):
            super().__init__()
            self.model = model
            self.probabilities = output == "probabilities"
            self.n_classes = n_classes
            if mean is not None:
                self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
                self.register_buffer("std", torch.tensor(std, dtype=torch.float32))
            else:
                self.mean = self.std = None

        def forward(self, x):
            if self.mean is not None:
                shape = (1, -1) + (1,) * (x.dim() - 2)
                x = (x - self.mean.view(shape)) / self.std.view(shape)
            with running_user_code("the model's forward"):
                out = self.model(x)
            if isinstance(out, (tuple, list)):
                out = out[0]
            if out.dim() != 2 or out.shape[1] != self.n_classes:
                raise AuditInputError(f"the model returned an output of shape {tuple(out.shape)}, but data.classes lists "
                                      f"{self.n_classes} classes; a multiclass model returns one score per class (shape (n, {self.n_classes})).")
            if self.probabilities:  # back to the scores the softmax (K classes) or the sigmoid (K labels) inverts
                return torch.logit(out.clamp(1e-12, 1 - 1e-12)) if getattr(self, "per_label", False) else torch.log(out.clamp_min(1e-12))
            return out

    _CLASS_HEAD = ClassHead
    return ClassHead


def class_probabilities(output: np.ndarray, kind: str, n_classes: int) -> np.ndarray:
    """The K class probabilities from a model's raw output: a softmax of logits, or the probabilities as given."""
    output = np.asarray(output, dtype=np.float64)
    if output.ndim != 2 or output.shape[1] != n_classes:
        raise AuditInputError(f"the model returned an array of shape {output.shape}, but data.classes lists {n_classes} classes; "
                              f"a multiclass model returns one score per class (shape (n, {n_classes})).")
    if kind == "probabilities":
        return output
    shifted = np.exp(output - output.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _device(spec_device: str) -> str:
    import torch

    if spec_device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if spec_device == "cuda" and not torch.cuda.is_available():
        raise AuditInputError("model.device is cuda, but PyTorch sees no GPU here; set model.device: auto or cpu.")
    return spec_device


def _array_settings(spec: AuditSpec) -> dict:
    model = spec.model
    data = spec.data
    normalize = model.normalize if model is not None else None
    return {
        "output": model.output if model is not None else "auto",
        "output_index": model.output_index if model is not None else None,
        "mean": tuple(normalize.mean) if normalize is not None else None,
        "std": tuple(normalize.std) if normalize is not None else None,
        "batch_size": model.batch_size if model is not None else 256,
        "features": list(data.features) if data.features is not None else None,
        "exclude": tuple(c for c in (*data.target_columns, *data.prediction_columns, data.id, data.site, *data.sensitive) if c is not None),
        "n_classes": len(class_labels(data)) if spec.task == "multiclass" else None,
        "n_labels": len(data.target_columns) if spec.task == "multilabel" else None,
    }


def torch_adapter(module: Any, spec: AuditSpec, *, source: str) -> TorchAdapter:
    """Wrap an ``nn.Module`` (object, TorchScript or rebuilt from a state dict) for the audit."""
    settings = _array_settings(spec)
    device = _device(spec.model.device if spec.model is not None else "auto")
    with running_user_code("the model's .to() or .eval()"):
        module = module.to(device).eval()
    return TorchAdapter(
        module=module,
        description=f"PyTorch {type(module).__name__} {source}",
        output="probabilities" if settings.pop("output") == "probabilities" else "logits",
        device=device,
        **settings,
    )


def load_torch_model(path: Path, spec: AuditSpec, base_dir: Path, kind: str) -> TorchAdapter:
    """A TorchScript archive (``torch.jit.load``) or a state dict (``torch.load(weights_only=True)``)
    loaded into the network ``model.architecture`` builds. A pickled whole model is refused unless
    ``trust: true``, and so is ``model.architecture`` (it runs code). A zipped file that would take
    more than ``settings.max_input_mb`` once decompressed is refused before loading."""
    written = spec.model.path
    require_model_file(path)
    check_archive_size(path, f"model file {written!r}", input_limit(spec))
    try:
        import torch
    except ImportError:
        raise AuditInputError(
            f"model file {written!r} is a PyTorch model, but PyTorch is not installed; pip install 'trustaudit[torch]'."
        ) from None
    if kind == "torchscript":
        try:
            import warnings

            with warnings.catch_warnings():  # torch 2.x marks TorchScript deprecated; the files still load
                warnings.simplefilter("ignore", FutureWarning)
                module = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:  # noqa: BLE001 - not TorchScript: perhaps a state dict or a pickled module
            module = _load_torch_pickle(path, written, spec.model.trust, exc)
        return torch_adapter(module, spec, source=f"from {Path(written).name}")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise _unreadable(written, exc) from None
    if not isinstance(state, dict):
        raise AuditInputError(
            f"model file {written!r} does not hold a state dict (it holds a {type(state).__name__}); save it with "
            "torch.save(model.state_dict(), path)."
        )
    module = _build_architecture(spec.model.architecture, base_dir, trust=spec.model.trust, written=written)
    try:
        with running_user_code(f"the load_state_dict of the network built by {spec.model.architecture!r}"):
            module.load_state_dict(state)
    except AuditInputError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise AuditInputError(
            f"the weights in {written!r} do not fit the network built by {spec.model.architecture!r} ({first_line(exc)}); "
            "check that model.architecture builds the network the weights were saved from."
        ) from None
    return torch_adapter(module, spec, source=f"from {Path(written).name}")


def _load_torch_pickle(path: Path, written: str, trust: bool, jit_error: BaseException) -> Any:
    import torch

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - not a weights-only file either
        state = None
        if not trust:
            if zipfile_like(path):
                raise TrustRequired(
                    f"model file {written!r} is neither TorchScript nor a weights-only file: loading it would unpickle "
                    "Python objects, which runs code. Save the model with torch.jit.script(model).save(path), or its "
                    f"state dict with model.architecture; only for a trusted file, set model: {{path: {written}, trust: true}}."
                ) from None
            raise _unreadable(written, jit_error) from None
        try:
            with running_user_code(f"unpickling model file {written!r}"):
                module = torch.load(str(path), map_location="cpu", weights_only=False)
        except AuditInputError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise _unreadable(written, exc) from None
        if isinstance(module, torch.nn.Module):
            return module
        state = module
    if isinstance(state, dict):
        raise AuditInputError(
            f"model file {written!r} holds a state dict (weights only); name the function that builds the network "
            "in model.architecture, e.g. architecture: 'mynet.py:build'."
        )
    if isinstance(state, torch.nn.Module):
        return state
    raise _unreadable(written, jit_error)


def zipfile_like(path: Path) -> bool:
    """True when the file starts like a zip archive (what torch.save writes)."""
    with open(path, "rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


def _build_architecture(target: str, base_dir: Path, *, trust: bool, written: str | None = None) -> Any:
    """Call ``module:function`` or ``file.py:function`` (relative to the spec) to build the network.

    Refused unless ``trust`` (it imports and runs the user's code); a ``sys.exit`` in that code
    becomes a plain error (:func:`running_user_code`).
    """
    import importlib
    import importlib.util

    require_trusted_architecture(target, written, trust)
    if ":" not in target:
        raise AuditInputError(
            f"model.architecture is {target!r}; write it as 'module:function' or 'file.py:function', the function "
            "returning the untrained nn.Module."
        )
    where, name = target.rsplit(":", 1)
    try:
        with running_user_code(f"model.architecture {target!r}"):
            if where.endswith(".py"):
                file = resolve(base_dir, where)
                if not file.exists():
                    raise AuditInputError(
                        f"model.architecture names {where!r}, which does not exist; check the path (relative to the spec file)."
                    )
                module_spec = importlib.util.spec_from_file_location(f"trustaudit_architecture_{file.stem}", file)
                module = importlib.util.module_from_spec(module_spec)
                module_spec.loader.exec_module(module)
            else:
                module = importlib.import_module(where)
            network = getattr(module, name)()
    except AuditInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's code failing
        raise AuditInputError(
            f"model.architecture {target!r} could not build the network ({type(exc).__name__}: {first_line(exc)}); "
            "check the module path and function name."
        ) from None
    import torch

    if not isinstance(network, torch.nn.Module):
        raise AuditInputError(f"model.architecture {target!r} returned a {type(network).__name__}, not a torch.nn.Module.")
    return network


@dataclass
class OnnxAdapter:
    """An ONNX classifier run with onnxruntime (black box: no gradients, so no adversarial attacks).

    The output used is the one named like probabilities (``probabilities``, ``output_probability``)
    if there is one, else the first float output. ``output: auto`` reads it as probabilities when
    all values lie in [0, 1] (and rows sum to 1 for several columns), else as logits.
    """

    session: Any
    description: str
    input_name: str
    input_dtype: Any
    output_name: str
    output: str = "auto"
    output_index: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    batch_size: int = 256
    features: list[str] | None = None
    exclude: tuple[str, ...] = ()
    n_classes: int | None = None  # multiclass: the number of classes, else None
    n_labels: int | None = None  # multilabel: the number of labels, else None

    def modules(self) -> set[str]:
        return {"onnxruntime"}

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.predict_array(table_array(frame, table_columns(self.features, self.exclude, frame)))

    def predict_array(self, x: np.ndarray) -> np.ndarray:
        k = self.n_classes or self.n_labels
        out = np.empty(x.shape[0] if k is None else (x.shape[0], k), dtype=np.float64)
        for rows in _batches(x.shape[0], self.batch_size):
            batch = np.asarray(x[rows], dtype=np.float32)
            if self.mean is not None:
                shape = (1, -1) + (1,) * (batch.ndim - 2)
                batch = (batch - np.asarray(self.mean, np.float32).reshape(shape)) / np.asarray(self.std, np.float32).reshape(shape)
            raw = self.session.run([self.output_name], {self.input_name: batch.astype(self.input_dtype)})[0]
            if self.n_classes is not None:
                out[rows] = class_probabilities(_onnx_matrix(raw), self._kind(raw), self.n_classes)
                continue
            if self.n_labels is not None:
                scores = _onnx_matrix(raw)
                if scores.ndim != 2 or scores.shape[1] != self.n_labels:
                    raise AuditInputError(f"the model returned an array of shape {scores.shape}, but data.target lists {self.n_labels} labels.")
                probabilities = self.output == "probabilities" or (self.output == "auto" and scores.min() >= 0 and scores.max() <= 1)
                out[rows] = scores if probabilities else _sigmoid(scores)
                continue
            out[rows] = _sigmoid(log_odds_from_output(_onnx_matrix(raw), self._kind(raw), self.output_index))
        return out

    def _kind(self, raw: Any) -> str:
        if self.output != "auto":
            return self.output
        values = _onnx_matrix(raw)
        if values.size and values.min() >= 0 and values.max() <= 1:
            if values.ndim == 1 or values.shape[1] == 1 or np.allclose(values.sum(axis=1), 1.0, atol=1e-3):
                return "probabilities"
        return "logits"


def _onnx_matrix(raw: Any) -> np.ndarray:
    """An ONNX output as a float matrix (a list of {class: probability} maps included)."""
    if isinstance(raw, list) and raw and isinstance(raw[0], dict):
        keys = sorted(raw[0])
        return np.array([[row[k] for k in keys] for row in raw], dtype=np.float64)
    return np.asarray(raw, dtype=np.float64)


_ONNX_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16}


def load_onnx_model(path: Path, spec: AuditSpec) -> OnnxAdapter:
    """Open an ``.onnx`` file with onnxruntime on the CPU."""
    written = spec.model.path
    require_model_file(path)
    try:
        import onnxruntime as ort
    except ImportError:
        raise AuditInputError(
            f"model file {written!r} is an ONNX model, but onnxruntime is not installed; pip install 'trustaudit[onnx]'."
        ) from None
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001
        raise _unreadable(written, exc) from None
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise AuditInputError(
            f"the ONNX model {written!r} takes {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
            "trustaudit feeds one input array, so export the model with a single input."
        )
    dtype = _ONNX_TYPES.get(inputs[0].type)
    if dtype is None:
        raise AuditInputError(f"the ONNX model {written!r} takes {inputs[0].type} inputs; trustaudit feeds float tensors.")
    outputs = session.get_outputs()
    named = [o for o in outputs if "prob" in o.name.lower()]
    floats = [o for o in outputs if o.type in _ONNX_TYPES or o.type.startswith("seq(map")]
    chosen = (named or floats or outputs)[0]
    settings = _array_settings(spec)
    fixed = inputs[0].shape[0] if inputs[0].shape else None
    if isinstance(fixed, int) and fixed > 0:
        settings["batch_size"] = fixed
    return OnnxAdapter(
        session=session,
        description=f"ONNX model from {Path(written).name}",
        input_name=inputs[0].name,
        input_dtype=dtype,
        output_name=chosen.name,
        **settings,
    )
