def new():
    """Factory function that returns a Function instance."""
    return Function()

class Function:
    """Your function implementation."""

    async def handle(self, scope, receive, send):
        """Handle HTTP requests."""
        # Process the request
        await send({
            'type': 'http.response.start',
            'status': 200,
            'headers': [[b'content-type', b'text/plain']],
        })
        await send({
            'type': 'http.response.body',
            'body': b'Hello, World!',
        })
