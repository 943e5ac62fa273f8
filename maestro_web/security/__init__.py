"""One module per token context (SPEC §3): minting and verifying, nothing else token-related anywhere.

Each module returns claims (or the user) or raises its own typed error; the answers a refused
request gets (login page, 401 JSON, 404 page) belong to `maestro_web/guards.py` and the blueprints.
The modules never import each other: what they share sits below them, in `keys.py` and
`maestro_web/keyring.py`.

- keys.py           the one PyJWT call site: HS256 pinned, key picked by `kid`; the `Authorization` parser and the token precheck
- session_jwt.py    user sessions (flask-jwt-extended): issuing, renewing, revoking and verifying cookies and API tokens
- share_tokens.py   public share-link tokens (`?token=` of the public view), deterministic per link row
- worker_tokens.py  analytics worker tokens; Flask-free, so the worker mints with it without importing the app
- reset_tokens.py   the two password-reset steps (encrypted e-mail link, signed form field)
- live_tickets.py   tickets letting a browser's WebSocket read some live channels
- socket_tokens.py  tokens letting services publish on the live server
"""
