"""Pydantic models of ``~/.podspawn/config.yaml``; imported only to validate or explain.

The rules themselves are the plain functions in ``podspawn.client.rules``, so the fast
reader used by ``podspawn connect`` and these models cannot disagree.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from podspawn.client.rules import check_mode, check_pod_name, parse_address

PodName = Annotated[str, AfterValidator(check_pod_name)]


def _address(value: str) -> str:
    parse_address(value)
    return value.strip()


Address = Annotated[str, AfterValidator(_address)]


class MappingEntry(BaseModel):
    """One ``servers.mappings`` value: ``HOST[:PORT]`` or ``{host: HOST[:PORT], mode: M}``."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    host: Address
    """The server whose podspawn login serves this pod, optionally with ``:PORT``."""
    mode: str = ""
    """Shown by ``podspawn servers``; the server decides the real session mode."""

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"host": value}
        if not isinstance(value, dict):
            raise ValueError(
                "must be a host such as 'devbox.example.com:2222' or a mapping "
                "{host: ..., mode: ...}"
            )
        return value

    @field_validator("mode")
    @classmethod
    def _mode(cls, value: str) -> str:
        return check_mode(value)


class Servers(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    default: Address | None = None
    """The server for every ``NAME.pod`` without a mapping of its own."""
    mappings: dict[PodName, MappingEntry] = Field(default_factory=dict)
    """``NAME.pod`` -> the server for that pod."""

    @field_validator("mappings", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


class ClientConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    servers: Servers = Field(default_factory=Servers)
    """Which server answers for which ``NAME.pod``."""
    local: dict[str, Any] | None = None
    """Local mode's settings; belongs to local mode and is not read by the client."""

    @field_validator("servers", mode="before")
    @classmethod
    def _none_is_default(cls, value: Any) -> Any:
        return {} if value is None else value
