"""A Knative func instance: start() reads its config, handle() counts, ready() follows start()."""

import json

import humanize


def new():
    return Counter()


class Counter:
    def __init__(self):
        self.count = 0
        self.started = False

    def start(self, cfg):
        self.count = int(cfg.get("COUNTER_START", "0"))
        self.started = True

    def stop(self):
        self.started = False

    def alive(self):
        return True

    def ready(self):
        return (True, "counting") if self.started else (False, "not started")

    async def handle(self, scope, receive, send):
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.count += 1
        answer = {"count": self.count, "ordinal": humanize.ordinal(self.count), "received": len(body),
                  "path": scope["path"]}
        await send({"type": "http.response.start", "status": 200,
                    "headers": [[b"content-type", b"application/json"]]})
        await send({"type": "http.response.body", "body": json.dumps(answer).encode()})
