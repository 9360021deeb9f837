"""A CloudEvent function: counts the words of the event's text and replies with an event."""


def main(data, attributes: dict):
    text = data.get("message", "") if isinstance(data, dict) else str(data or "")
    reply = {
        "type": "dev.pyfunc.samples.wordcount",
        "source": "/samples/cloudevent",
        "subject": attributes.get("id"),
        "datacontenttype": "application/json",
    }
    return reply, {"words": len(text.split()), "in_reply_to": attributes.get("type")}
