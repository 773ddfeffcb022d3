"""Parity of the exported engines with the trained policy, and their latency.

Every engine runs the recorded observations one at a time (batch 1, as on the car) and is
compared with the trained policy's own outputs: the largest absolute difference, and for discrete
actions the share of inputs on which it picks the same action. FP32 engines must agree within
:data:`FP32_TOLERANCE` and pick the same action everywhere; the INT8 engine within
:data:`INT8_TOLERANCE` with at least :data:`INT8_MIN_AGREEMENT` of the actions the same; the
DeepRacer graph converted with FP16 weights within :data:`FP16_TOLERANCE` and
:data:`FP16_MIN_AGREEMENT` (:mod:`racer.export.deepracer`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from racer.car.backends import Backend, measure_latency
from racer.export.errors import ParityError

FP32_TOLERANCE = 1e-5  # DESIGN.md: parity with the trained policy within 1e-5 (FP32)
INT8_TOLERANCE = 5e-2  # quantised weights and activations: a few hundredths on probabilities
INT8_MIN_AGREEMENT = 0.99  # INT8 must pick the trained policy's action on 99% of the inputs
FP16_TOLERANCE = 5e-2  # FP16 weights (the DeepRacer car's conversion): a few hundredths at most
FP16_MIN_AGREEMENT = 0.99  # FP16 must pick the trained policy's action on 99% of the inputs
LATENCY_RUNS = 300  # timed single-frame inferences per engine
LATENCY_WARMUP = 30  # untimed inferences first


@dataclass
class EngineParity:
    """One engine against the trained policy.

    Attributes:
        engine: ``torch``-free engine name (``onnxruntime``, ``openvino``, ``openvino_int8``,
            ``deepracer_fp32``, ``deepracer_fp16``).
        samples: inputs compared.
        max_abs_diff: largest absolute output difference.
        mean_abs_diff: mean absolute output difference.
        action_agreement: share of inputs with the same discrete action (None: continuous).
        tolerance: the bound on ``max_abs_diff``.
        min_agreement: the bound on ``action_agreement``.
    """

    engine: str
    samples: int
    max_abs_diff: float
    mean_abs_diff: float
    action_agreement: float | None
    tolerance: float
    min_agreement: float

    @property
    def passed(self) -> bool:
        """Whether both bounds hold."""
        ok = bool(np.isfinite(self.max_abs_diff)) and self.max_abs_diff <= self.tolerance
        return ok and (self.action_agreement is None or self.action_agreement >= self.min_agreement)

    def summary(self) -> str:
        """One line for humans."""
        agree = (
            "" if self.action_agreement is None else f", same action {self.action_agreement:.1%}"
        )
        state = "ok" if self.passed else "FAILED"
        return (
            f"parity {self.engine:<14} {self.samples} inputs: max |diff| {self.max_abs_diff:.2e} "
            f"(<= {self.tolerance:.0e}){agree} {state}"
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (for metadata.json)."""
        return {**asdict(self), "passed": self.passed}


def run_engine(backend: Backend, inputs: np.ndarray) -> np.ndarray:
    """Run ``backend`` on each input (batch 1).

    Args:
        backend: the engine.
        inputs: ``(N, *obs_shape)`` float32.

    Returns:
        ``(N, n_outputs)`` float32.
    """
    shape = backend.input_shape
    return np.stack([backend.run(x.reshape(shape)).reshape(-1) for x in inputs]).astype(np.float32)


def compare(
    engine: str,
    expected: np.ndarray,
    got: np.ndarray,
    discrete: bool,
    tolerance: float,
    min_agreement: float = 1.0,
) -> EngineParity:
    """Compare one engine's outputs with the trained policy's.

    Args:
        engine: the engine's name.
        expected: ``(N, K)`` the trained policy's outputs.
        got: ``(N, K)`` the engine's outputs.
        discrete: compare the argmax actions too.
        tolerance: bound on the largest absolute difference.
        min_agreement: bound on the share of identical actions (discrete).

    Returns:
        The figures.
    """
    diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    agreement = None
    if discrete:
        agreement = float(np.mean(np.argmax(got, axis=1) == np.argmax(expected, axis=1)))
    return EngineParity(
        engine=engine,
        samples=int(len(expected)),
        max_abs_diff=float(diff.max()) if diff.size else 0.0,
        mean_abs_diff=float(diff.mean()) if diff.size else 0.0,
        action_agreement=agreement,
        tolerance=tolerance,
        min_agreement=min_agreement,
    )


def require(parities: list[EngineParity]) -> None:
    """Raise a one-line :class:`ParityError` naming the first engine that failed."""
    for p in parities:
        if not p.passed:
            agree = (
                ""
                if p.action_agreement is None
                else f", same action on {p.action_agreement:.1%} (need {p.min_agreement:.0%})"
            )
            flag = "--deepracer" if p.engine.startswith("deepracer") else "--int8"
            raise ParityError(
                f"export parity failed on {p.engine}: max |diff| {p.max_abs_diff:.3g} vs the "
                f"trained policy (limit {p.tolerance:g}){agree} over {p.samples} recorded "
                "observations; nothing was written (check the library versions, or export "
                f"without {flag})"
            )


def latency(backend: Backend, x: np.ndarray) -> dict[str, float]:
    """Single-frame latency percentiles of an engine, ms (see ``measure_latency``)."""
    stats = measure_latency(
        backend, x.reshape(backend.input_shape), runs=LATENCY_RUNS, warmup=LATENCY_WARMUP
    )
    return {k: round(v, 4) for k, v in stats.items()}
