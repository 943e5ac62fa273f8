"""The example spec that "Try an example" fills in on the new-graph form (and the look tests use)."""

WEB_SHOP = """# A small web shop: "a -> b" means a calls (depends on) b.
web [kind=frontend] -> api
api [kind=service] -> auth
api -> catalog
api -> cart
api -> orders
auth [kind=service] -> users-db [kind=database]
catalog [kind=service] -> search [kind=service]
catalog -> products-db [kind=database]
search -> products-db
cart [kind=service] -> cache [kind=cache]
orders [kind=service] -> orders-db [kind=database]
orders -> payments [kind=service]
orders -> queue [kind=queue]
payments -> stripe [kind=external]
worker [kind=service] -> queue
worker -> orders-db
worker -> mailer [kind=service]
mailer -> users-db"""
