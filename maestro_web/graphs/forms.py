"""Graph forms. The JSON API validates through the same classes (see api/graph_routes.py)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectChoice, SelectField, StringField, SubmitField, TextAreaField  # type: ignore[attr-defined]  # SelectChoice is new in WTForms 3.3; its stubs know 3.2
from wtforms.validators import AnyOf, DataRequired, Email, Length, ValidationError

from maestro_web.domain.spec import SpecError, parse_spec
from maestro_web.models.graph import (
    DESCRIPTION_MAX_LENGTH,
    GRAPH_TYPE_CHOICES_TEXT,
    GRAPH_TYPES,
    NAME_MAX_LENGTH,
    Role,
    normalize_graph_type,
)

ROLE_CHOICES = [SelectChoice(str(int(role)), role.label) for role in (Role.READ, Role.WRITE, Role.ADMIN)]
TYPE_CHOICES = [SelectChoice(value, label) for value, label in GRAPH_TYPES.items()]


class GraphForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[
            DataRequired("Give the graph a name."),
            Length(max=NAME_MAX_LENGTH, message=f"At most {NAME_MAX_LENGTH} characters."),
        ],
    )
    # "business" is taken for Maestro's "bussiness" (coerce); anything else is refused naming both spellings.
    type = SelectField(
        "Type",
        choices=TYPE_CHOICES,
        default="infra",
        coerce=normalize_graph_type,
        validate_choice=False,
        validators=[AnyOf(list(GRAPH_TYPES), message=f"Choose {GRAPH_TYPE_CHOICES_TEXT}.")],
    )
    description = TextAreaField(
        "Description",
        validators=[Length(max=DESCRIPTION_MAX_LENGTH, message=f"At most {DESCRIPTION_MAX_LENGTH} characters.")],
    )
    show_description = BooleanField("Show the description to visitors of this graph's share links")
    spec = TextAreaField("Dependencies")
    submit = SubmitField("Save")

    spec_lines: list[int]

    def validate_spec(self, field: TextAreaField) -> None:
        self.spec_lines = []
        if field.data is not None and not isinstance(field.data, str):
            raise ValidationError("The dependencies must be text.")
        try:
            parse_spec(field.data or "")
        except SpecError as exc:
            self.spec_lines = [p.line for p in exc.problems if p.line is not None]
            messages = [problem.message for problem in exc.problems]
            # WTForms appends the raised message itself; the others go first, in line order.
            field.errors = [*field.errors, *messages[:-1]]
            raise ValidationError(messages[-1]) from None


class NewGraphForm(GraphForm):
    """The create page's form: a new graph starts with at least one line (the API may create an empty
    one, e.g. for a graph its discovery sources will fill)."""

    def validate_spec(self, field: TextAreaField) -> None:
        super().validate_spec(field)
        if parse_spec(field.data or "").is_empty:
            raise ValidationError("Add at least one line, such as “web -> api”, or press “Try an example”.")


class RoleForm(FlaskForm):
    # A registered user gets the role at once; any other address an invitation (SPEC §4).
    email = EmailField(
        "E-mail", validators=[DataRequired("Enter an e-mail address."), Email("Enter a valid e-mail address.")]
    )
    role = SelectField("Role", choices=ROLE_CHOICES, default=str(int(Role.READ)))
    submit = SubmitField("Grant")


class DeleteGraphForm(FlaskForm):
    """Deleting asks for the graph's name, typed: a click on the wrong tab deletes nothing."""

    confirm_name = StringField("Type the graph's name to confirm")
    submit = SubmitField("Delete the graph")

    def __init__(self, graph_name: str, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.graph_name = graph_name

    def validate_confirm_name(self, field: StringField) -> None:
        typed = field.data if isinstance(field.data, str) else ""
        if " ".join(typed.split()).casefold() != " ".join(self.graph_name.split()).casefold():
            raise ValidationError(f"Type the name, “{self.graph_name}”, to delete the graph.")


class RoleChangeForm(FlaskForm):
    """The select on a person's row of the Access page: another role, without retyping the address."""

    role = SelectField("Role", choices=ROLE_CHOICES)
    submit = SubmitField("Change")


class ConfirmForm(FlaskForm):
    """A form with nothing but its CSRF fields, for confirmations."""

    submit = SubmitField("Confirm")
