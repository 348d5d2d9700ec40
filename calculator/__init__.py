"""LLM inference planning engine: memory, latency, throughput and cost from a calibrated roofline.

from calculator import estimate, LLMInferenceCalculator
"""

from calculator.deployment import Deployment, InputError, resolve_deployment
from calculator.estimate import ENGINE_VERSION, Estimate, estimate_deployment
from calculator.legacy import LLMInferenceCalculator
from calculator.planning.advice import advise, estimate, estimate_with_advice

__all__ = [
    "ENGINE_VERSION",
    "Deployment",
    "Estimate",
    "InputError",
    "LLMInferenceCalculator",
    "advise",
    "estimate",
    "estimate_deployment",
    "estimate_with_advice",
    "resolve_deployment",
]
