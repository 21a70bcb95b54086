import logfire

logfire.configure()

with logfire.span('checkout {order_id}', order_id=42):
    logfire.info('charged {amount} EUR', amount=19.99)
