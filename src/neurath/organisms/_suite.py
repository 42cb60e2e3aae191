"""Suites: which organisms to build, as data (YAML), with an embedded default."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from neurath._errors import ManifestError, did_you_mean
from neurath._files import Integer, load_yaml_model, parse_yaml, validate_model
from neurath.organisms._archetypes import ArchetypeName, ArchetypeParams


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


class TrainingOverrides(BaseModel):
    """Optional changes to the default training schedule (tests use tiny ones)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_steps: Integer | None = Field(default=None, ge=1)
    organism_steps: Integer | None = Field(default=None, ge=1)
    n_embd: Integer | None = Field(default=None, ge=8)
    extra_rounds: Integer | None = Field(default=None, ge=0)


class Suite(BaseModel):
    """A population of organisms fine-tuned from one shared base model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    name: str = Field(min_length=1)
    base_seed: Integer = 0
    training: TrainingOverrides = TrainingOverrides()
    organisms: list[OrganismSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Suite:
        seen: set[str] = set()
        for spec in self.organisms:
            if spec.id in seen:
                raise ValueError(f"organism id {spec.id!r} used twice")
            seen.add(spec.id)
        return self

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
    """The embedded default suite (``default_suite.yaml``): 24 organisms, every archetype three
    or four times."""
    text = resources.files("neurath.organisms").joinpath("default_suite.yaml").read_text()
    return validate_model(parse_yaml(text, "default_suite.yaml"), Suite, "default_suite.yaml")
