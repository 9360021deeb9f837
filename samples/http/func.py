"""An HTTP function: greets whoever the query string or JSON body names."""


def main(req):
    name = req.args.get("name")
    if name is None and req.is_json:
        name = (req.get_json(silent=True) or {}).get("name")
    return {"greeting": f"Hello, {name or 'world'}!", "method": req.method, "path": req.path}
