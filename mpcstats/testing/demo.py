"""``mpcstats demo``: a short secure study on synthetic hospital data.

By default each hospital is a real party daemon (its own process) on loopback, with a throwaway
PKI and its table in a temporary folder; the demo connects as an analyst over mutual TLS.
``--simulate`` runs the parties in this process instead. Each hospital keeps its own patients;
only secret-shared aggregates leave it, and only the approved outputs reach the analyst. Every
result is printed beside the plaintext computation on the pooled data, which only a demo can do.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mpcstats import datasets
from mpcstats.simulator import LocalSimulator
from mpcstats.stats.study import Study


def run_demo(hospitals: int = 3, seed: int = 7, simulate: bool = False) -> int:
    frames, schema = datasets.hospitals(hospitals, rows=2000, seed=seed)
    pooled = pd.concat(frames.values(), ignore_index=True)
    sizes = ", ".join(f"{name} {len(frame)}" for name, frame in frames.items())
    print(f"mpcstats demo: {len(pooled)} synthetic patients ({sizes})")
    if simulate:
        print("the hospitals are simulated in this process")
        return _report(LocalSimulator(frames, schema=schema), pooled)
    from mpcstats.client import connect
    from mpcstats.testing.loopback import LoopbackFederation

    with tempfile.TemporaryDirectory(prefix="mpcstats-demo-") as folder:
        federation = LoopbackFederation(Path(folder), frames, schema)
        print(f"starting {len(federation.names)} party daemons on loopback (mutual TLS, {folder})")
        with federation, connect(**federation.connect_kwargs(), progress=False) as study:
            code = _report(study, pooled)
        print("daemons stopped; the temporary PKI and data are deleted")
    return code


def _report(study: Study, pooled: pd.DataFrame) -> int:
    """Run the study, print each result beside its plaintext twin; 0 if all agree."""
    started = time.perf_counter()
    rows: list[tuple[str, float, float]] = []

    count = study.count(where="age >= 65").counts.iloc[0]
    rows.append(("patients aged 65+", count, float((pooled.age >= 65).sum())))
    described = study.describe("los")
    rows.append(("mean length of stay", described.mean, pooled.los.mean()))
    rows.append(("variance of stay", described.var, pooled.los.var()))
    median = study.median("age")
    rows.append(("median age", median, float(np.median(pooled.age))))
    fit = study.ols("los ~ age + C(sex)")
    twin = _plain_ols(pooled)
    for name, value in fit.params.items():
        rows.append((f"OLS {name}", float(value), twin[name]))
    histogram = study.histogram("bmi", bins=[10, 18.5, 25, 30, 60])
    plain_histogram = np.histogram(pooled.bmi.dropna(), histogram.edges)[0]
    for (left, right), secure, plain in zip(
        zip(histogram.edges[:-1], histogram.edges[1:], strict=True),
        histogram.counts,
        plain_histogram,
        strict=True,
    ):
        rows.append((f"BMI {left:g}-{right:g}", secure, float(plain)))
    elapsed = time.perf_counter() - started

    print(f"{'statistic':<22}{'secure':>16}{'plaintext':>16}")
    for name, secure, plain in rows:
        print(f"{name:<22}{secure:>16.6f}{plain:>16.6f}")
    print(f"{elapsed:.2f} s; only the results above were revealed, to the analyst alone")
    worst = max(abs(secure - plain) / max(abs(plain), 1.0) for _, secure, plain in rows)
    return 0 if worst < 1e-6 else 1  # the accuracy the statistics promise


def _plain_ols(pooled: pd.DataFrame) -> dict[str, float]:
    """Least squares on the pooled rows with numpy: the twin of the secure regression."""
    design = np.column_stack([np.ones(len(pooled)), pooled.age, (pooled.sex == "M").astype(float)])
    beta = np.linalg.lstsq(design, pooled.los.to_numpy(float), rcond=None)[0]
    return dict(zip(["Intercept", "age", "C(sex)[T.M]"], beta.tolist(), strict=True))
