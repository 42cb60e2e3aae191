"""Studies: what to run through the whole pipeline, as data (YAML), with an embedded default."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from neurath._errors import ManifestError, NeurathError, ResearchError
from neurath._files import Integer, Real, load_yaml_model, parse_yaml, validate_model
from neurath.research._budget import Budget

STUDY_VERSION = 1


class Study(BaseModel):
    """What to run: the suite, the controller, its budget, the experiments and the prior."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    name: str = Field(default="default", min_length=1)
    suite: str = "default"
    """``default`` (the embedded suite) or a suite YAML file (relative to the study file)."""
    controller: str = "voi"
    controller_options: dict[str, Any] = Field(default_factory=dict)
    budget: Budget = Budget(queries=40_000, training_steps=0)
    experiments: list[str] | None = None
    """Experiments the controller may use (default: every registered one)."""
    floor: list[str] = Field(default_factory=list)
    """A human-written minimum battery: these experiments run on every target, at the study's
    parameters, before the controller acts (a level-1 floor no controller can skip)."""
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Experiment -> parameters, over the calibration's (which calibrate with them too)."""
    prior_not_scheming: Real = Field(default=0.5, gt=0, lt=1)
    common_cause: Real | None = Field(default=None, ge=0, le=1)
    """``c`` for the assessments; default: the calibration's estimate (with ``engine: 2``,
    the one measured by holding calibration schemers and mechanisms out)."""
    engine: Literal[1, 2] = 1
    """The assessment model: 1, one Gaussian per hypothesis; 2, a component per mechanism
    (the calibration is then fitted per mechanism)."""
    novel: Real | None = Field(default=None, ge=0, lt=1)
    """With ``engine: 2``, required: the declared chance that a scheming target is of a
    mechanism no calibration organism has (weights the unknown kind, sets the common cause)."""
    seed: Integer = 0

    @model_validator(mode="after")
    def _novel_declared(self) -> Study:
        if self.engine == 2 and self.novel is None:
            raise ValueError(
                "engine 2 needs 'novel': the declared chance that a scheming target is of a "
                "mechanism no calibration organism has (state it; 0 claims none ever is)"
            )
        if self.engine == 1 and self.novel is not None:
            raise ValueError("'novel' is used by engine 2 only; set 'engine: 2' or remove it")
        return self


def default_study() -> Study:
    """The embedded default study (``default_study.yaml``)."""
    text = resources.files("neurath.testbed").joinpath("default_study.yaml").read_text()
    return validate_model(parse_yaml(text, "default_study.yaml"), Study, "default_study.yaml")


def load_study(path: str | Path) -> Study:
    """Read a study YAML file (a regular file, strict YAML: see :mod:`neurath._files`); a
    relative suite path is made relative to the file."""
    where = str(path)
    study = load_yaml_model(path, Study, "study")
    if study.suite != "default" and not Path(study.suite).is_absolute():
        study = study.model_copy(update={"suite": str(Path(path).parent / study.suite)})
    check_study(study, where)
    return study


def check_study(study: Study, where: str) -> None:
    """Names fail before anything is built: controller, its options, experiments, params."""
    from neurath.experiments import get_experiment
    from neurath.research import get_controller, make_controller

    try:
        if "scheming" in study.controller_options and get_controller(study.controller).red_team:
            raise ResearchError(
                f"controller {study.controller!r} is told which targets scheme by the study "
                "itself: remove 'scheming' from controller_options"
            )
        make_controller(study.controller, study.controller_options)
        for name in [*(study.experiments or []), *study.floor]:
            get_experiment(name)
        outside = [n for n in study.floor if study.experiments and n not in study.experiments]
        if outside:
            raise ResearchError(f"floor experiment {outside[0]!r} is not among 'experiments'")
        for name, params in study.params.items():
            get_experiment(name).resolve(params)
    except ResearchError as exc:
        raise ManifestError(str(exc), file=where, field="controller") from None
    except ManifestError:
        raise
    except NeurathError as exc:  # ExperimentError names the experiment and the parameter
        raise ManifestError(str(exc), file=where) from None
