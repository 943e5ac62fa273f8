"""Share link forms: create a link, extend one."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, IntegerField, SelectField, StringField, SubmitField, TextAreaField
from wtforms import SelectChoice  # type: ignore[attr-defined]  # new in WTForms 3.3, not in its stubs yet
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from maestro_web.models.share import LABEL_MAX_LENGTH
from maestro_web.shares.services import MAX_VIEWS_LIMIT, PRESETS

EXPIRY_CHOICES = [SelectChoice(key, label) for key, (label, _) in PRESETS.items()] + [SelectChoice("custom", "Custom date…")]


class ExpiryMixin:
    expires = SelectField("Expires in", choices=EXPIRY_CHOICES, default="7d")
    custom_expiry = DateTimeLocalField("Custom expiry (UTC)", validators=[Optional()], format="%Y-%m-%dT%H:%M")

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)  # type: ignore[misc]
        # Optional() ends the field's own chain when it is empty, so "custom needs a date" lives here.
        if self.expires.data == "custom" and self.custom_expiry.data is None and not self.custom_expiry.errors:
            self.custom_expiry.errors = [*self.custom_expiry.errors, "Pick a date and time, or choose a preset."]
            return False
        return valid

    def expiry(self, start: datetime) -> datetime:
        """The chosen expiry: a preset counted from `start`, or the custom date (UTC)."""
        if self.expires.data == "custom" and self.custom_expiry.data is not None:
            return self.custom_expiry.data.replace(tzinfo=timezone.utc)
        return start + timedelta(seconds=PRESETS[self.expires.data][1])


class ShareForm(ExpiryMixin, FlaskForm):
    label = StringField("Label", description="Who or what the link is for, e.g. “Board meeting”.",
                        validators=[DataRequired("Give the link a label, e.g. who it is for."),
                                    Length(max=LABEL_MAX_LENGTH, message=f"At most {LABEL_MAX_LENGTH} characters.")])
    max_views = IntegerField("Max views (optional)", validators=[
        Optional(), NumberRange(min=1, max=MAX_VIEWS_LIMIT, message="A whole number from 1, or empty for no limit.")])
    embeddable = BooleanField("Allow embedding in other sites (iframe)")
    allowed_origins = TextAreaField("Sites allowed to embed it", description="One origin per line, e.g. https://intranet.example.com")
    submit = SubmitField("Create link")


class ExtendForm(ExpiryMixin, FlaskForm):
    submit = SubmitField("Extend")
