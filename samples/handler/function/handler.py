"""A handler-template function: relative imports, a per-request logger, dict in, dict out."""

from . import utils


def handle(logger, request):
    name = request.get("name", "World")
    logger.info("greeting %s", name)
    return {"message": utils.greeting(name, int(request.get("visits", 1))),
            "activity": request["metadata"]["activityID"]}
