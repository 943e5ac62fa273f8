"""One module per token context (SPEC §3): nothing token-related lives anywhere else.

- keys.py          the key ring every context signs and verifies with (current + _PREVIOUS keys, kid)
- session_jwt.py   user sessions (flask-jwt-extended; cookies for browsers, Authorization for APIs)
"""
