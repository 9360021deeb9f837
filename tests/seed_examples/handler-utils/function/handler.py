from . import utils  # Import your custom module

def handle(logger, request):
    name = request.get("name", "World")
    message = utils.format_message(name)
    return {"message": message}
