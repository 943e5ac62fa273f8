"""One module per token context (SPEC §3): minting and verifying, nothing else token-related anywhere.

Each module returns claims (or the user) or raises its own typed error; the answers a refused
request gets (login page, 401 JSON, 404 page) belong to `maestro_web/web/guards.py` and the
blueprints. The token modules never import each other (the `token-contexts` contract of
.importlinter): what they share sits below them, in `signing.py`, `command_tokens.py`, `sealed_links.py`
and `maestro_web/keyring.py`.

- signing.py             the one PyJWT call site: HS256 pinned, key picked by `kid`; the `Authorization`
                         parser and the token precheck
- session_jwt.py         user sessions (flask-jwt-extended): issuing, renewing, revoking and verifying
                         cookies and API tokens
- cookie_sessions.py     Flask's signed-cookie session (flashes, CSRF) with its serializer made once
- share_tokens.py        public share-link tokens (`?token=` of the public view), deterministic per link row
- short_codes.py         short link codes (`/s/<code>`): the link's id and a MAC under the public key ring
- passcode_cookies.py    the cookie that opens a passcode-protected link for one browser
- worker_tokens.py       analytics worker tokens; Flask-free, so the worker mints with it without the app
- reset_tokens.py        the two password-reset steps (encrypted e-mail link, signed form field)
- registration_tokens.py the link of the "confirm your address" e-mail that finishes a registration
- sealed_links.py        what the two encrypted e-mail links above share (reset step 1, registration):
                         the key derived per purpose, an old link told from a forged one
- invitation_tokens.py   the link of an invitation e-mail: a random token, stored only as its SHA-256
- command_tokens.py      what the two user-context command tokens below share (one user, one graph,
                         short-lived, dead with the user's sessions)
- discovery_tokens.py    discovery commands: the app tells the discovery service to crawl
- report_tokens.py       report commands: the app tells the report service to make a report
- live_tickets.py        tickets letting a browser's WebSocket read some live channels
- socket_tokens.py       tokens letting the app and the services publish on the live server
"""
