"""Robustness stress tests: adversarial attacks (``attacks``), tabular perturbations
(``perturbations``), image corruptions (``corruptions``) and the metrics that summarise them
(``evaluate``). The check that runs them is :mod:`audit.checks.robustness`."""
