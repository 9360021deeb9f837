"""A Knative func CloudEvent function in the shape `func create -l python -t cloudevents` makes.

The invoker decodes the request into scope["event"] (a cloudevents 2.x
``cloudevents.core.v1.event.CloudEvent``); ``await send(event)`` answers in structured mode,
``await send.binary(event)`` in binary mode.
"""
import logging

from cloudevents.core.v1.event import CloudEvent


def new():
    return Echo()


class Echo:
    def start(self, cfg):
        self.replies = 0
        self.source = cfg.get("ECHO_SOURCE", "/samples/knative-cloudevent")

    async def handle(self, scope, receive, send):
        event = scope["event"]
        logging.info("echoing event %s", event.get_id())
        self.replies += 1
        reply = CloudEvent(
            attributes={"type": "dev.pyfunc.samples.echo", "source": self.source,
                        "id": f"echo-{event.get_id()}"},
            data={"echo": event.get_data(), "from": event.get_source(), "replies": self.replies},
        )
        wants_binary = any(name == b"x-reply-mode" and value == b"binary" for name, value in scope["headers"])
        if wants_binary:
            await send.binary(reply)
        else:
            await send(reply)

    def alive(self):
        return True, "Alive"

    def ready(self):
        return True, f"Ready after {self.replies} replies"
