"""Share link forms: create a link, extend one.

The create form checks every field in one pass and puts each problem under its own field: the
field checks call the service's rules (services.py, the one home of each rule), so the page and the
API refuse the same input with the same words."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (  # type: ignore[attr-defined]
    BooleanField,
    DateTimeLocalField,
    Field,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,  # new in WTForms 3.3, not in its stubs yet (the ignore above)
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Optional, ValidationError

from maestro_web.limits import PASSCODE_MAX_LENGTH, PASSCODE_MIN_LENGTH
from maestro_web.models import Graph
from maestro_web.models.share_rules import LIVE, SNAPSHOT
from maestro_web.shares.services import (
    PRESETS,
    NewLink,
    ShareRefused,
    check_embedding,
    check_expiry,
    check_max_views,
    check_passcode,
    clean_label,
    snapshot_source,
)

PRESET_CHOICES = [SelectChoice(key, label) for key, (label, _) in PRESETS.items()]
EMBEDDING_OFF = "You listed sites but embedding is off: turn embedding on, or clear the sites."


@contextmanager
def as_field_error() -> Iterator[None]:
    """A service's ShareRefused, raised inside a `validate_<field>` method, as that field's error."""
    try:
        yield
    except ShareRefused as exc:
        raise ValidationError(str(exc)) from exc


class ExpiryMixin:
    """A preset or a custom date (UTC); the date is needed only when "custom" is chosen."""

    expires: SelectField
    custom_expiry = DateTimeLocalField("Custom expiry (UTC)", validators=[Optional()], format="%Y-%m-%dT%H:%M")

    def expiry_field_ok(self) -> bool:
        """False (with the message under the date) when "custom" is chosen without a date. Optional() ends
        the date's own chain when it is empty, so this rule, which needs both fields, lives here."""
        if self.expires.data == "custom" and self.custom_expiry.data is None and not self.custom_expiry.errors:
            self.custom_expiry.errors = [*self.custom_expiry.errors, "Pick a date and time, or choose a preset."]
        return not (self.expires.errors or self.custom_expiry.errors)

    @property
    def expiry_field(self) -> Field:
        """Where an expiry problem is shown: under the date when a custom date was chosen, else the preset."""
        return self.custom_expiry if self.expires.data == "custom" else self.expires

    def expiry(self, start: datetime) -> datetime:
        """The chosen expiry: a preset counted from `start`, or the custom date (UTC)."""
        if self.expires.data == "custom" and self.custom_expiry.data is not None:
            return self.custom_expiry.data.replace(tzinfo=UTC)
        return start + timedelta(seconds=PRESETS[self.expires.data][1])

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)  # type: ignore[misc]
        return self.expiry_field_ok() and valid


class ShareForm(ExpiryMixin, FlaskForm):
    label = StringField(
        "Label (optional)",
        description="Who or what the link is for, e.g. “Board meeting”. Left "
        "empty, it reads “Shared link” and today's date.",
    )
    expires = SelectField("Expires in", choices=[*PRESET_CHOICES, SelectChoice("custom", "Custom date…")], default="7d")
    max_views = IntegerField("Max views (optional)", validators=[Optional()])
    mode = RadioField(
        "What visitors see",
        default=LIVE,
        choices=[
            SelectChoice(LIVE, "Live: always the newest picture"),
            SelectChoice(SNAPSHOT, "Snapshot: the picture as it is now"),
        ],
    )
    passcode = PasswordField(
        "Passcode (optional)",
        description=f"{PASSCODE_MIN_LENGTH} to {PASSCODE_MAX_LENGTH} "
        "characters. Visitors type it before they see anything; send it to them separately from "
        "the link.",
    )
    embeddable = BooleanField("Allow embedding in other sites (iframe)")
    allowed_origins = TextAreaField(
        "Sites allowed to embed it", description="One origin per line, e.g. https://intranet.example.com"
    )
    submit = SubmitField("Create link")

    def __init__(self, graph: Graph, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.graph = graph

    # Each check below runs even when another field failed: every problem shows at once, under its field.

    def validate_label(self, field: StringField) -> None:
        if (field.data or "").strip():  # empty is fine: new_link() gives the default label
            with as_field_error():
                clean_label(field.data or "")

    def validate_max_views(self, field: IntegerField) -> None:
        with as_field_error():
            check_max_views(field.data)

    def validate_passcode(self, field: PasswordField) -> None:
        if field.data:
            with as_field_error():
                check_passcode(field.data)

    def validate_mode(self, field: RadioField) -> None:
        if field.data == SNAPSHOT:
            with as_field_error():
                snapshot_source(self.graph)

    def validate_allowed_origins(self, field: TextAreaField) -> None:
        if not self.embeddable.data and self.origins:
            raise ValidationError(EMBEDDING_OFF)  # asked, never dropped: the sites stay in the box
        with as_field_error():
            check_embedding(bool(self.embeddable.data), self.origins)

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        if not (self.expires.errors or self.custom_expiry.errors):
            now = datetime.now(UTC)
            try:
                check_expiry(self.expiry(now), now, now)
            except ShareRefused as exc:
                self.refused(exc)
        return valid and not self.expiry_field.errors

    @property
    def origins(self) -> tuple[str, ...]:
        return tuple((self.allowed_origins.data or "").split())

    def new_link(self, now: datetime) -> NewLink:
        """The checked input as the service takes it."""
        return NewLink(
            label=(self.label.data or "").strip() or None,
            expires_at=self.expiry(now),
            max_views=self.max_views.data,
            embeddable=bool(self.embeddable.data),
            origins=self.origins,
            passcode=self.passcode.data or None,
            mode=self.mode.data or LIVE,
        )

    def refused(self, exc: ShareRefused) -> None:
        """Show a refusal of the service under the field it names (the expiry's under the expiry field)."""
        field = self.expiry_field if exc.field == "expires_at" else getattr(self, exc.field or "", None)
        if isinstance(field, Field):
            field.errors = [*field.errors, str(exc)]
        else:
            self.form_errors.append(str(exc))


class ExtendForm(ExpiryMixin, FlaskForm):
    expires = SelectField("Extend by", choices=[*PRESET_CHOICES, SelectChoice("custom", "Until a date…")], default="7d")
    custom_expiry = DateTimeLocalField("New expiry (UTC)", validators=[Optional()], format="%Y-%m-%dT%H:%M")
    submit = SubmitField("Extend")


class PasscodeForm(FlaskForm):
    """Set or change a link's passcode (the link page), checked by the model's rule like the create form's."""

    passcode = PasswordField("New passcode", validators=[DataRequired("Type the passcode visitors will enter.")])
    submit = SubmitField("Set passcode")

    def validate_passcode(self, field: PasswordField) -> None:
        with as_field_error():
            check_passcode(field.data or "")
