"""Provenance: what a reviewer needs to re-run an audit and get the same numbers.

Only facts that are the same on every re-run of the same audit on the same installation go in:
file hashes, package versions, the seed and resampling settings. No wall-clock time, no absolute
path, no host name, so results.json is byte-identical across runs.
"""

from __future__ import annotations

import platform
from importlib import metadata

from .data import sha256_file

#: Distributions whose versions can change the numbers or the report.
PACKAGES = (
    "trustaudit",
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "skops",
    "statsmodels",
    "fairlearn",
    "mapie",
    "matplotlib",
    "jinja2",
    "pydantic",
)


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def provenance(spec, datasets, model_file: tuple[str, object] | None, adapter=None) -> dict:
    """The provenance block of results.json.

    ``datasets`` maps names to ``Dataset`` objects (their hashes are already computed);
    ``model_file`` is ``(path as written in the spec, resolved path)`` when the model came from a file;
    ``adapter`` is the model the audit ran (None when the predictions came from ``data.prediction``).
    """
    files = {f"data:{name}": {"path": ds.path, "sha256": ds.sha256} for name, ds in datasets.items()}
    if model_file is not None:
        written, resolved = model_file
        files["model"] = {"path": written, "sha256": sha256_file(resolved)}
    out = environment(spec.settings, files)
    if adapter is not None:
        out["model"] = model_runtime(adapter)
    return out


def model_runtime(adapter) -> dict:
    """What the audit ran to compute the predictions: the model's description and the installed
    distributions (with versions) of the modules it runs on (``adapter.modules()``: the estimator's and
    its pipeline steps' packages, torch, onnxruntime). Modules that are not an installed distribution
    (a class defined in the user's own script) are left out."""
    owners = metadata.packages_distributions()
    libraries = {}
    for module in sorted(set(adapter.modules())):
        for distribution in owners.get(module, []):
            libraries[distribution] = package_versions((distribution,))[distribution]
    return {"description": adapter.description, "libraries": dict(sorted(libraries.items()))}


def environment(settings, files: dict) -> dict:
    """Versions, platform, the numerical settings and the input files' hashes: what re-running needs."""
    return {
        "trustaudit": package_versions(("trustaudit",))["trustaudit"],
        "python": platform.python_version(),
        "platform": f"{platform.system()}-{platform.machine()}",
        "seed": settings.seed,
        "n_resamples": settings.n_resamples,
        "confidence": settings.confidence,
        "ci_method": settings.ci_method,
        "packages": package_versions(),
        "files": files,
    }
