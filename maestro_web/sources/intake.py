"""What a source may hold (SPEC §11): the input's size per kind, the settings, sealed credentials.

Shared by the API and the Sources page so both refuse the same input with the same words: 413 for
an input over its kind's limit, 422 naming the field for anything else, and nothing stored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from maestro_web.api.schemas import MAX_SETTINGS_BYTES, AwsCredentials, AwsSettings, field_problems
from maestro_web.discovery.sealing import SealingError, seal
from maestro_web.refusals import Kind, ValidationFailed

MiB = 2**20
# The same limits as the inference's (maestro_web/discovery/inference.py MAX_BYTES); the app refuses
# a bigger input before storing a byte of it.
INPUT_LIMITS = {"kubernetes": 5 * MiB, "compose": 1 * MiB, "otlp": 50 * MiB}
UPLOAD_LIMIT = 51 * MiB  # the largest input plus room for the other fields of a multipart form
KIND_WORDS = {
    "kubernetes": "Kubernetes manifests",
    "compose": "Compose file",
    "otlp": "OTLP JSON traces",
    "aws": "AWS account",
}


@dataclass
class SourceInput:
    """The checked parts of a source to store; None where nothing changes."""

    input: bytes | None = None
    settings: dict[str, Any] | None = None
    sealed_credentials: str | None = None
    key_id_end: str | None = None


def check_source(
    kind: str,
    data: bytes | None,
    settings: Mapping[str, Any] | None,
    credentials: AwsCredentials | None,
    config: Mapping[str, Any],
    *,
    required: bool,
) -> SourceInput:
    """The input, settings and credentials of a source of `kind`, checked in that order (the first
    problem is the one named); `required` for a new source, not for a change of one (where a part
    left out stays as it is: None). `config` is the app's (the AWS endpoints allowed, the discovery
    service's public key)."""
    checked_input = check_input(kind, data, required=required)
    checked_settings = check_settings(kind, settings, config["MAESTRO_DISCOVERY_AWS_ENDPOINTS"], required=required)
    sealed, key_end = check_credentials(kind, credentials, config["MAESTRO_DISCOVERY_PUBLIC_KEY"], required=required)
    return SourceInput(input=checked_input, settings=checked_settings, sealed_credentials=sealed, key_id_end=key_end)


def _limit_words(kind: str) -> str:
    return f"At most {INPUT_LIMITS[kind] // MiB} MiB for a {kind} source."


def check_input(kind: str, data: bytes | None, *, required: bool) -> bytes | None:
    if kind == "aws":
        if data:
            raise ValidationFailed.for_fields({"input": "An aws source reads the account; it takes no input."})
        return None
    if data is None or not data.strip():
        if required:
            raise ValidationFailed.for_fields({"input": f"Required: paste or upload the {KIND_WORDS[kind]}."})
        return None
    if len(data) > INPUT_LIMITS[kind]:
        raise ValidationFailed.for_fields({"input": _limit_words(kind)}, kind=Kind.TOO_LARGE)
    if b"\x00" in data[:65536]:
        raise ValidationFailed.for_fields({"input": f"Must be text ({KIND_WORDS[kind]}), not a binary file."})
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationFailed.for_fields(
            {"input": f"Must be UTF-8 text ({KIND_WORDS[kind]}); byte {exc.start} is not."}
        ) from None
    if kind in CHECKED_ON_SAVE:
        _refuse_unusable(kind, data)
    return data


# YAML kinds are read once on save with the crawl's own safe reader, so a file no crawl could use (a
# "billion laughs", a Compose file that is a list, broken YAML) is refused at once and never stored.
# OTLP (up to 50 MiB, streamed by the crawl) is read only by the crawl, which fails naming the problem.
CHECKED_ON_SAVE = ("kubernetes", "compose")


def _refuse_unusable(kind: str, data: bytes) -> None:
    from maestro_web.discovery.inference import InputRefused, infer

    try:
        infer(kind, data, {})
    except InputRefused as exc:
        raise ValidationFailed.for_fields({"input": _sentence(str(exc))}) from None


def _sentence(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def check_settings(
    kind: str, settings: Mapping[str, Any] | None, aws_endpoints: list[str], *, required: bool
) -> dict[str, Any] | None:
    if settings is None:
        if kind == "aws" and required:
            raise ValidationFailed.for_fields({"settings": 'Required for aws: {"regions": ["eu-west-1"]}.'})
        return None if not required else {}
    if len(json.dumps(settings)) > MAX_SETTINGS_BYTES:
        raise ValidationFailed.for_fields({"settings": f"Must be at most {MAX_SETTINGS_BYTES} bytes of JSON."})
    if kind != "aws":
        return dict(settings)
    try:
        aws = AwsSettings.model_validate(dict(settings))
    except PydanticValidationError as exc:
        problems = field_problems(AwsSettings, exc)
        raise ValidationFailed.for_fields({f"settings.{name}": problem for name, problem in problems.items()}) from None
    if aws.endpoint_url is not None and aws.endpoint_url.rstrip("/") not in aws_endpoints:
        raise ValidationFailed.for_fields(
            {"settings.endpoint_url": "Must be one of the endpoints in MAESTRO_DISCOVERY_AWS_ENDPOINTS, or absent."}
        )
    return aws.model_dump(exclude_none=True)


def check_credentials(
    kind: str, credentials: AwsCredentials | None, public_key: str | None, *, required: bool
) -> tuple[str | None, str | None]:
    """(sealed credentials, last 4 characters of the key id), or (None, None) when none were given."""
    if credentials is None:
        if kind == "aws" and required:
            raise ValidationFailed.for_fields({"credentials": "Required for aws: access_key_id and secret_access_key."})
        return None, None
    if kind != "aws":
        raise ValidationFailed.for_fields({"credentials": "Only aws sources take credentials."})
    if not public_key:
        raise ValidationFailed.for_fields(
            {
                "credentials": "Cannot be stored: the discovery service's public key (MAESTRO_DISCOVERY_PUBLIC_KEY) "
                "is not configured."
            }
        )
    try:
        sealed = seal(credentials.model_dump(exclude_none=True), public_key)
    except SealingError as exc:
        raise ValidationFailed.for_fields({"credentials": f"Cannot be stored: {exc}."}) from None
    return sealed, credentials.access_key_id[-4:]
