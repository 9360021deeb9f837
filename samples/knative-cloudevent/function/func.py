"""A Knative func CloudEvent instance: the event arrives in scope["event"]; send() takes a reply event."""

from cloudevents.http import CloudEvent


def new():
    return Echo()


class Echo:
    async def handle(self, scope, receive, send):
        event = scope["event"]
        data = event.get_data()
        reply = CloudEvent({"type": "dev.pyfunc.samples.echo", "source": "/samples/knative-cloudevent"},
                           {"echo": data, "from": event.get_attributes()["source"]})
        await send(reply)
