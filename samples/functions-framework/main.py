"""A Functions Framework HTTP function, unchanged from what runs on Cloud Run."""

import flask


def hello(request: flask.Request):
    name = request.args.get("name")
    if name == "nobody":
        flask.abort(404, "nobody is not here")
    return flask.jsonify(message=f"Hello {name or 'world'}!"), 200, {"X-Style": "functions-framework"}
