"""The request plumbing of the Flask app: what every request passes through before and after a view.

One layer of the import contract (.importlinter), below the blueprints and above the app's
services, tokens and models; receipts.py (a write sent twice is answered once) sits in the layer
below, beside the services that commit with it. Nothing here is a page of its own.

- guards.py        the one guard each blueprint attaches (`require_user`, `require_share`, ...) and
                   what a refused request is told (login page, 401 JSON, 400 page)
- strict_input.py  hostile input stops at the door: strict JSON in and out, no NUL in paths,
                   query strings or forms
- rate_limits.py   every rate limit of the app, and failing closed when their storage is down
- limiter_private.py  the app's two reaches past Flask-Limiter's public API (the key prefix of
                   each app, Retry-After around its headers), held by tests/test_limiter_private.py
- headers.py       response headers named once (security set, token pages, inert SVG, downloads)
- redirects.py     where a redirect may send a browser: only back onto this site
- words.py         plain words for pages: status words and relative times (template filters)
"""
