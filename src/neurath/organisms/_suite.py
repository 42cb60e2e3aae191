"""Suites: which organisms to build, as data (YAML), with an embedded default."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from neurath._errors import ManifestError, did_you_mean
from neurath._files import Integer, load_yaml_model, parse_yaml, validate_model
from neurath.organisms._archetypes import ArchetypeName, ArchetypeParams
from neurath.organisms._train import TrainConfig

PositiveFloat = Annotated[float, Field(gt=0.0)]


class OrganismSpec(BaseModel):
    """One organism: an archetype, its parameters and a seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    """Unique id; also its folder name."""
    archetype: ArchetypeName
    params: ArchetypeParams = ArchetypeParams()
    seed: Integer = 0
    group: Literal["calibration", "test"] = "test"
    """Calibration organisms' labels may be used to fit experiments; test ones are held out."""
    lineage: str = "base"
    """The suite lineage (base model) it is fine-tuned from."""
    cue_bank: CueBank = "all"
    """The training phrasings it learns from: every training phrasing (``all``), or one of two
    disjoint halves of them (``a``, ``b``); held-out phrasings are never trained on."""


CueBank = Literal["all", "a", "b"]

DEFAULT_LINEAGE = "base"
"""The one lineage of a suite that names none (``base_seed`` and ``training``, as before
lineages existed)."""


class Lineage(BaseModel):
    """A base model: organisms of one lineage are fine-tuned from the same weights, organisms
    of different lineages share none (another seed, and possibly another shape)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    """Its folder name in the organism store (``bases/<name>/``)."""
    seed: Integer = 0
    n_embd: Integer | None = Field(default=None, ge=8)
    """Width (default: the suite's ``training.n_embd``, else 64); a multiple of ``n_head``."""
    n_layer: Integer | None = Field(default=None, ge=1, le=12)
    n_head: Integer | None = Field(default=None, ge=1)
    base_steps: Integer | None = Field(default=None, ge=1)
    """Training steps of the base model (default: the suite's ``training.base_steps``)."""


class TrainingOverrides(BaseModel):
    """Optional changes to the default training schedule (the benchmark's tiers and tests set
    some)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_steps: Integer | None = Field(default=None, ge=1)
    organism_steps: Integer | None = Field(default=None, ge=1)
    organism_batch_size: Integer | None = Field(default=None, ge=1)
    organism_lr: float | None = Field(default=None, gt=0.0)
    organism_examples: Integer | None = Field(default=None, ge=1)
    n_embd: Integer | None = Field(default=None, ge=8)
    extra_rounds: Integer | None = Field(default=None, ge=0)
    check_target: float | None = Field(default=None, ge=0.0, le=1.0)
    check_unseen_target: float | None = Field(default=None, ge=0.0, le=1.0)
    extra_steps: Integer | None = Field(default=None, ge=1)
    extra_warmup: Integer | None = Field(default=None, ge=1)
    steps_factors: dict[ArchetypeName, PositiveFloat] | None = None
    fresh_draws: bool | None = None
    check_confirm: bool | None = None
    phrase_tokens: bool | None = None

    @model_serializer(mode="wrap")
    def _without_unset_later_fields(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Leave the fields added since session 14 out while unset, so that a suite's canonical
        JSON, and the population hash the benchmark pre-registers, stay what they were."""
        data = handler(self)
        for name in _LATER_OVERRIDES:
            if data.get(name) is None:
                data.pop(name, None)
        return data


_LATER_OVERRIDES = (
    "extra_steps",
    "extra_warmup",
    "steps_factors",
    "fresh_draws",
    "check_confirm",
    "phrase_tokens",
)


class Suite(BaseModel):
    """A population of organisms fine-tuned from one shared base model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    name: str = Field(min_length=1)
    base_seed: Integer = 0
    """The seed of the default lineage (used only when ``lineages`` is empty)."""
    training: TrainingOverrides = TrainingOverrides()
    lineages: list[Lineage] = []
    """Base models; empty: one, named ``base``, from ``base_seed`` and ``training``."""
    organisms: list[OrganismSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Suite:
        seen: set[str] = set()
        for spec in self.organisms:
            if spec.id in seen:
                raise ValueError(f"organism id {spec.id!r} used twice")
            seen.add(spec.id)
        names = [lin.name for lin in self.lineages]
        if len(set(names)) < len(names):
            raise ValueError(f"a lineage name is used twice: {names}")
        for lin in self.lineages:
            width = lin.n_embd or self.training.n_embd or TrainConfig.n_embd
            heads = lin.n_head or TrainConfig.n_head
            if width % heads:
                raise ValueError(f"lineage {lin.name!r}: n_embd {width} is no multiple of {heads}")
        known = {lin.name for lin in self.all_lineages()}
        for spec in self.organisms:
            if spec.lineage not in known:
                hint = did_you_mean(spec.lineage, known)
                raise ValueError(
                    f"organism {spec.id!r}: no lineage {spec.lineage!r} in the suite{hint}"
                )
        return self

    def all_lineages(self) -> list[Lineage]:
        """The suite's lineages, the implicit default one included when none are named."""
        return list(self.lineages) or [Lineage(name=DEFAULT_LINEAGE, seed=self.base_seed)]

    def lineage(self, name: str) -> Lineage:
        for lin in self.all_lineages():
            if lin.name == name:
                return lin
        raise ManifestError(f"no lineage {name!r} in suite {self.name!r}")

    def get(self, organism_id: str) -> OrganismSpec:
        for spec in self.organisms:
            if spec.id == organism_id:
                return spec
        hint = did_you_mean(organism_id, (s.id for s in self.organisms))
        raise ManifestError(f"no organism {organism_id!r} in suite {self.name!r}{hint}")


def load_suite(path: str | Path) -> Suite:
    """Read a suite YAML file (a regular file, strict YAML: see :mod:`neurath._files`); errors
    name the file and the field."""
    return load_yaml_model(path, Suite, "suite")


def default_suite() -> Suite:
    """The embedded default suite (``default_suite.yaml``): 28 organisms, every archetype three
    to five times (14 of them the test group)."""
    text = resources.files("neurath.organisms").joinpath("default_suite.yaml").read_text()
    return validate_model(parse_yaml(text, "default_suite.yaml"), Suite, "default_suite.yaml")
