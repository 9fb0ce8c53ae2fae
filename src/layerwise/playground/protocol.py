"""The playground's messages: every command a page may send, as a bounded pydantic model.

A message is one JSON object with a ``"type"``. Each model forbids unknown fields,
NaN and infinity, and bounds every size, so a message is either one of these or
refused with a readable line (:class:`ProtocolError`); nothing in it is evaluated.

    {"type": "config", "config": {...}}     rebuild the data, the network and the run
    {"type": "play"} {"type": "pause"} {"type": "step"} {"type": "reset"}
    {"type": "lr", "lr": 0.01}              change the learning rate, live
    {"type": "checkpoint"} {"type": "rollback"}
    {"type": "potential", "n": 100}         learning potential after n steps
    {"type": "upload", "name": "mine.csv", "text": "x1,x2,label\\n..."}
    {"type": "export_model"} {"type": "export_code"}

Any command may carry an ``"id"``: the server answers ``{"type": "ack", "id": ...}``
once it has acted on it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from layerwise.layers import FEATURES
from layerwise.playground.datasets import CLASSIFICATION, MAX_CSV_CHARS, REGRESSION

MAX_HIDDEN_LAYERS = 8
MAX_NEURONS = 16
MAX_MESSAGE_CHARS = MAX_CSV_CHARS + 10_000  # an upload and its envelope
DATASETS = (*CLASSIFICATION, *REGRESSION, "csv")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear", "leaky_relu")
LOSSES = ("auto", "cross_entropy", "bce", "mse")
OPTIMIZERS = ("sgd", "momentum", "adam", "rmsprop", "adamw")

Dataset = Literal[DATASETS]
Feature = Literal[tuple(FEATURES)]
Activation = Literal[ACTIVATIONS]
Units = Annotated[int, Field(ge=1, le=MAX_NEURONS)]
CommandId = Annotated[int, Field(ge=0, le=2**53)]
LearningRate = Annotated[float, Field(ge=1e-5, le=10.0)]


class ProtocolError(ValueError):
    """A message that is not one of the commands; its text says why, in one line."""


class _Message(BaseModel):
    # strict: "10" is not 10, true is not 1; NaN and infinity are refused everywhere.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class Config(_Message):
    """Everything that makes a run: the URL's hash holds it, so a link repeats the run."""

    dataset: Dataset = "circle"
    noise: int = Field(10, ge=0, le=50)  # percent
    train_ratio: int = Field(50, ge=10, le=90)  # percent of the points used to train
    points: int = Field(500, ge=50, le=2000)
    classes: int = Field(3, ge=2, le=6)  # spiral and gauss
    batch_size: int = Field(10, ge=1, le=500)
    seed: int = Field(1, ge=0, le=2**31 - 1)
    features: tuple[Feature, ...] = Field(("x1", "x2"), min_length=1, max_length=len(FEATURES))
    layers: tuple[Units, ...] = Field((4, 2), max_length=MAX_HIDDEN_LAYERS)
    activations: tuple[Activation, ...] = Field(("tanh", "tanh"), max_length=MAX_HIDDEN_LAYERS)
    loss: Literal[LOSSES] = "auto"
    optimizer: Literal[OPTIMIZERS] = "adam"
    lr: LearningRate = 0.03
    weight_decay: float = Field(0.0, ge=0.0, le=1.0)  # L2 on the weights
    dropout: float = Field(0.0, ge=0.0, le=0.9)

    @model_validator(mode="after")
    def _consistent(self):
        if len(set(self.features)) != len(self.features):
            raise ValueError("each input feature may appear once")
        if len(self.activations) != len(self.layers):
            raise ValueError(
                f"{len(self.layers)} hidden layers need {len(self.layers)} activations; "
                f"got {len(self.activations)}"
            )
        return self


class _Command(_Message):
    id: CommandId | None = None


class Configure(_Command):
    type: Literal["config"]
    config: Config


class Play(_Command):
    type: Literal["play"]


class Pause(_Command):
    type: Literal["pause"]


class Step(_Command):
    type: Literal["step"]


class Reset(_Command):
    type: Literal["reset"]


class SetLearningRate(_Command):
    type: Literal["lr"]
    lr: LearningRate


class Checkpoint(_Command):
    type: Literal["checkpoint"]


class Rollback(_Command):
    type: Literal["rollback"]


class Potential(_Command):
    type: Literal["potential"]
    n: int = Field(100, ge=1, le=2000)


class Upload(_Command):
    type: Literal["upload"]
    name: str = Field("data.csv", max_length=200)
    text: str = Field(max_length=MAX_CSV_CHARS)


class ExportModel(_Command):
    type: Literal["export_model"]


class ExportCode(_Command):
    type: Literal["export_code"]


Command = Annotated[
    Configure
    | Play
    | Pause
    | Step
    | Reset
    | SetLearningRate
    | Checkpoint
    | Rollback
    | Potential
    | Upload
    | ExportModel
    | ExportCode,
    Field(discriminator="type"),
]
_COMMAND = TypeAdapter(Command)
COMMAND_TYPES = (
    "config", "play", "pause", "step", "reset", "lr", "checkpoint", "rollback", "potential",
    "upload", "export_model", "export_code",
)  # fmt: skip


def parse(text: str | bytes) -> _Command:
    """The command in one message, or :class:`ProtocolError` saying what is wrong."""
    if isinstance(text, bytes):
        raise ProtocolError("Refused message: messages are JSON text, not binary.")
    if len(text) > MAX_MESSAGE_CHARS:
        raise ProtocolError(
            f"Refused message: it has {len(text):,} characters; at most "
            f"{MAX_MESSAGE_CHARS:,} are taken (a CSV of at most 1 MB)."
        )
    try:
        return _COMMAND.validate_json(text)
    except ValidationError as e:
        raise ProtocolError(describe(e)) from None


def describe(error: ValidationError) -> str:
    """The first problems of a validation error, on one line."""
    parts = []
    for item in error.errors(include_url=False)[:3]:
        loc = item["loc"][1:] if len(item["loc"]) > 1 else item["loc"]  # [0]: the type tag
        where = ".".join(str(part) for part in loc) or "message"
        text = item["msg"]
        if item["type"] == "union_tag_invalid" or item["type"] == "union_tag_not_found":
            text = f"unknown or missing type; known: {', '.join(COMMAND_TYPES)}"
        elif item["type"] == "extra_forbidden":
            text = "unknown field"
        parts.append(f"{where}: {text}")
    more = len(error.errors()) - len(parts)
    return "Refused message: " + "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
