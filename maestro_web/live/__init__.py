"""The live server (SPEC §8): a separate asyncio process that fans events out to browsers.

This package's `__init__` stays empty on purpose: the app and the token modules import
`maestro_web.live.channels` without pulling in the server or its libraries.
"""
