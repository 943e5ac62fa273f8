"""The live server (SPEC §8): a separate asyncio process that fans events out to browsers.

This package's `__init__` stays empty on purpose: the app's outbox imports
`maestro_web.live_server.revocations` without pulling in the server or its libraries. The channel names
are not here but in `maestro_web.channels`, a leaf every process imports.
"""
