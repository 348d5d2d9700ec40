"""Fan-out: split a comparison's grid into independent chunks (models x hardware blocks)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from calculator.planning.spec import ComparisonSpec


@dataclass(frozen=True, kw_only=True)
class ChunkSpec:
    """Models [model_start, model_stop) x hardware [hardware_start, hardware_stop) x everything else."""

    chunk_index: int
    model_start: int
    model_stop: int
    hardware_start: int
    hardware_stop: int

    def size(self, spec: ComparisonSpec) -> int:
        blocks = (self.model_stop - self.model_start) * (self.hardware_stop - self.hardware_start)
        return blocks * spec.configurations_per_block

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, int]) -> ChunkSpec:
        return cls(**{f.name: int(data[f.name]) for f in fields(cls)})


def plan_chunks(spec: ComparisonSpec, target: int = 250_000) -> list[ChunkSpec]:
    """Split the grid into independent chunks of about `target` configurations (at least one
    (model, hardware) block each): whole-hardware ranges of consecutive models, or, when one model's row
    is larger than the target, one model and a range of hardware. chunk_index is the position in this list
    (stable for a given spec and target)."""
    if target < 1:
        raise ValueError("target must be at least 1")
    per_block = spec.configurations_per_block
    nm, nh = len(spec.models), len(spec.hardware)
    chunks: list[ChunkSpec] = []
    if per_block * nh <= target:
        step = max(1, target // (per_block * nh))
        for start in range(0, nm, step):
            chunks.append(
                ChunkSpec(
                    chunk_index=len(chunks),
                    model_start=start,
                    model_stop=min(start + step, nm),
                    hardware_start=0,
                    hardware_stop=nh,
                )
            )
    else:
        step = max(1, target // per_block)
        for m in range(nm):
            for start in range(0, nh, step):
                chunks.append(
                    ChunkSpec(
                        chunk_index=len(chunks),
                        model_start=m,
                        model_stop=m + 1,
                        hardware_start=start,
                        hardware_stop=min(start + step, nh),
                    )
                )
    return chunks
