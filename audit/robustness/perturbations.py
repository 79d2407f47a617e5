"""Realistic perturbations of tabular inputs: Gaussian noise, missing values, categorical flips.

Each function takes the model's input columns (a DataFrame) and a severity in [0, 1] and returns
a perturbed copy; severity 0 returns the input unchanged. Randomness comes only from the
``numpy.random.Generator`` passed in, so the same seed gives the same perturbation.

- ``noise``: every continuous value gets ``N(0, (severity · sd_j)^2)`` added, ``sd_j`` the
  column's standard deviation in the data (integer columns are rounded back to integers).
- ``missing``: every value is dropped with probability ``severity`` and replaced as the
  pipeline would see a missing value (``missing_as``: NaN, the column mean — the mode for a
  categorical column — or zero).
- ``categorical_flip``: every categorical value is replaced, with probability ``severity``, by
  another level of the same column, drawn with the levels' observed frequencies.

A column is categorical when it is not numeric, is boolean, or is an integer column with at most
``CATEGORICAL_LEVELS`` distinct values; every other numeric column is continuous.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Integer columns with at most this many distinct values are treated as categories.
CATEGORICAL_LEVELS = 10


def is_categorical(column: pd.Series) -> bool:
    """True for text, boolean and categorical columns, and for integer codes with few levels."""
    if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        return True
    values = column.dropna()
    integral = pd.api.types.is_integer_dtype(column) or bool(np.all(np.equal(np.mod(values, 1), 0)))
    return integral and values.nunique() <= CATEGORICAL_LEVELS


def column_kinds(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(continuous, categorical) column names of ``frame``, in its order."""
    categorical = [c for c in frame.columns if is_categorical(frame[c])]
    return [c for c in frame.columns if c not in categorical], categorical


def gaussian_noise(frame: pd.DataFrame, severity: float, rng: np.random.Generator) -> pd.DataFrame:
    """Add ``N(0, (severity · sd_j)^2)`` to every continuous column ``j`` (sd over the data)."""
    out = frame.copy()
    if severity == 0:
        return out
    continuous, _ = column_kinds(frame)
    for column in continuous:
        values = frame[column].to_numpy(dtype=float)
        sd = float(np.nanstd(values, ddof=1)) if np.sum(~np.isnan(values)) > 1 else 0.0
        noisy = values + rng.normal(0.0, 1.0, size=values.shape) * severity * sd
        if pd.api.types.is_integer_dtype(frame[column]):
            out[column] = np.round(noisy).astype(frame[column].dtype)
        else:
            out[column] = noisy
    return out


def missing_values(frame: pd.DataFrame, severity: float, rng: np.random.Generator, missing_as: str = "nan") -> pd.DataFrame:
    """Drop every value with probability ``severity``; replace it by NaN, the column mean (mode) or 0."""
    out = frame.copy()
    if severity == 0:
        return out
    _, categorical = column_kinds(frame)
    for column in frame.columns:
        drop = rng.random(len(frame)) < severity
        if not drop.any():
            continue
        if missing_as == "nan":
            series = out[column]
            if pd.api.types.is_integer_dtype(series) or pd.api.types.is_bool_dtype(series):
                series = series.astype(float)
            out[column] = series.mask(drop)
        elif missing_as == "zero":
            out.loc[drop, column] = 0
        else:
            if column in categorical:
                mode = frame[column].mode(dropna=True)
                fill = mode.iloc[0] if len(mode) else np.nan
            else:
                fill = float(np.nanmean(frame[column].to_numpy(dtype=float)))
            series = out[column]
            if pd.api.types.is_integer_dtype(series) and not float(fill).is_integer():
                series = series.astype(float)
            out[column] = series.mask(drop, fill)
    return out


def categorical_flips(frame: pd.DataFrame, severity: float, rng: np.random.Generator) -> pd.DataFrame:
    """Replace each categorical value, with probability ``severity``, by another observed level."""
    out = frame.copy()
    if severity == 0:
        return out
    _, categorical = column_kinds(frame)
    for column in categorical:
        values = frame[column].to_numpy(dtype=object)
        levels, counts = np.unique(frame[column].dropna().astype(str).to_numpy(), return_counts=True)
        if levels.size < 2:
            continue
        originals = {str(v): v for v in frame[column].dropna().to_numpy(dtype=object)}
        flip = rng.random(values.size) < severity
        text = np.array([str(v) for v in values], dtype=object)
        new = values.copy()
        for level in levels:  # one vectorised draw per level (missing values are never flipped)
            rows = np.flatnonzero(flip & (text == level) & pd.notna(values))
            if rows.size == 0:
                continue
            others = levels != level
            drawn = rng.choice(levels[others], size=rows.size, p=counts[others] / counts[others].sum())
            new[rows] = [originals[str(v)] for v in drawn]
        out[column] = pd.Series(new, index=frame.index).astype(frame[column].dtype, errors="ignore")
    return out


def perturb(frame: pd.DataFrame, kind: str, severity: float, rng: np.random.Generator, missing_as: str = "nan") -> pd.DataFrame:
    """Apply the tabular perturbation ``kind`` (noise, missing, categorical_flip)."""
    if kind == "noise":
        return gaussian_noise(frame, severity, rng)
    if kind == "missing":
        return missing_values(frame, severity, rng, missing_as)
    if kind == "categorical_flip":
        return categorical_flips(frame, severity, rng)
    raise ValueError(f"unknown tabular perturbation {kind!r}")


def applicable(frame: pd.DataFrame, kind: str) -> str | None:
    """``None`` when ``kind`` can change these inputs, else the reason it cannot."""
    continuous, categorical = column_kinds(frame)
    if kind == "noise" and not continuous:
        return "the model has no continuous inputs to add noise to"
    if kind == "categorical_flip" and not any(frame[c].nunique(dropna=True) >= 2 for c in categorical):
        return "the model has no categorical inputs with two or more levels"
    return None
