"""Domain rules shared by several blueprints, with no page or route of their own.

- access.py   who may see or change a graph (roles), and the refusal (NoSuch, NotAllowed) when they may not
- spec.py     the graph spec language: parsing and limits (forms, API, worker ingest)
- figures.py  what each figure means in plain words (the graph page and the report documents)
- link_urls.py a share link's public URLs (page, short link, image), built from configuration
"""
