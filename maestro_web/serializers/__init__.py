"""Every JSON shape the app answers with, one module per thing (Redash's `serializers/` is the example).

Each module holds, for its thing, the function that builds the JSON body (`graph_json`, `link_json`,
`result_json`, `user_json`, ...) and the pydantic models that declare it (`GraphOut`, `ShareLinkOut`,
...): the OpenAPI document (api/openapi.py) publishes the models, the fuzzer checks every answer
against them, and the routes build their answers with the functions. A shape changes here, once.

- users.py         a user (`user_json`, UserOut) and a person named on something (`person_json`)
- tokens.py        the API's login and token answers, personal API tokens (`personal_token_json`)
- graphs.py        a graph, its roles and invitations (`graph_json`, `role_json`, `invitation_json`)
- links.py         a share link (`link_json`) and the answers that carry links
- results.py       the analytics worker's job and stored result (`result_json`)
- sources.py       a discovery source, crawl and graph version (`source_json`, `crawl_json`, `version_json`)
- reports.py       a report (`report_json`)
- live.py          a live ticket
- error_bodies.py  the one error body (built by errors.json_error)

The request models (what the API accepts) are in api/schemas.py.
"""
