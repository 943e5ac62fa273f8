"""Flask's signed-cookie session (flashes, CSRF), with its signing serializer made once.

Flask builds an itsdangerous serializer on every request, and building one serialises `{}` to learn
whether it produces text: about 2 % of the public view's CPU (py-spy, in process). The serializer
depends only on the secret key and its fallbacks (`_PREVIOUS`), which are settings, so it is made
once per key set; a rotation (a restart with new settings) makes a new one.
"""

from __future__ import annotations

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class CookieSessionInterface(SecureCookieSessionInterface):
    def __init__(self) -> None:
        self._made: tuple[tuple[object, ...], URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        made = self._made
        if made is None or made[0] != keys:
            made = self._made = (keys, super().get_signing_serializer(app))
        return made[1]
