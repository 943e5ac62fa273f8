"""One module per aggregate; import them all here so Alembic sees every table."""
from maestro_web.models.user import RevokedToken, User

__all__ = ["RevokedToken", "User"]
