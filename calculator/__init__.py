"""LLM inference planning engine: memory, latency, throughput and cost from a calibrated roofline.

from calculator import estimate, LLMInferenceCalculator
"""

from calculator.deployment import Deployment, InputError, resolve_deployment
from calculator.estimate import ENGINE_VERSION, Estimate, estimate, estimate_deployment
from calculator.legacy import LLMInferenceCalculator

__all__ = [
    "ENGINE_VERSION",
    "Deployment",
    "Estimate",
    "InputError",
    "LLMInferenceCalculator",
    "estimate",
    "estimate_deployment",
    "resolve_deployment",
]
