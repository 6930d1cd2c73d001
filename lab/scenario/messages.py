"""A JSON Schema error as the one line a scenario's author reads: where, what, what is allowed.

`where(err)` is the path to point at (an unknown key's own line rather than
its mapping's); `describe(err)` the words. A type with a `title` is named by
it ("unknown socket option 'SO_FOO' (allowed: ...)"), the allowed values
being its enum, or its description when it has none.
"""


def leaf(err):
    """The deepest scalar a oneOf error is about: in `[EOF, ENOPE]`, 'ENOPE'."""
    deepest = err
    stack = list(err.context or ())
    while stack:
        sub = stack.pop()
        if len(sub.absolute_path) > len(deepest.absolute_path) and not isinstance(sub.instance, (list, dict)):
            deepest = sub
        stack += sub.context or ()
    return deepest.instance


def where(err):
    path = list(err.absolute_path)
    if err.validator == "additionalProperties":
        unknown = [k for k in err.instance if k not in err.schema.get("properties", {})]
        path.append(unknown[0])
    return path


def describe(err):
    schema = err.schema if isinstance(err.schema, dict) else {}
    if "$comment" in schema:  # a rule across keys (lab/scenario/schema.py family_only) says itself
        return schema["$comment"]
    if err.validator == "required":
        missing = err.message.split("'")[1]
        return f"missing {missing!r} (required: {', '.join(err.validator_value)})"
    if err.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        unknown = sorted(str(k) for k in err.instance if k not in allowed)
        return f"unknown key {', '.join(map(repr, unknown))} (allowed: {', '.join(allowed)})"
    if err.validator in ("enum", "oneOf") and "title" in schema:
        allowed = schema.get("description") if "enum" not in schema else None
        value = leaf(err) if err.validator == "oneOf" else err.instance
        return f"unknown {schema['title']} {value!r} (allowed: {allowed or ', '.join(enums(schema))})"
    if err.validator == "enum":
        return f"{err.instance!r} is not one of {', '.join(map(str, err.validator_value))}"
    if err.validator == "oneOf":
        key = err.absolute_path[-1] if err.absolute_path else "value"
        return f"{err.instance!r} is not a valid {key}" + (f" (allowed: {', '.join(enums(schema))})"
                                                            if enums(schema) else "")
    return err.message


def enums(schema):
    """The values a schema allows by name: its enum, or its alternatives' (one value or a list of them)."""
    if "enum" in schema:
        return [str(v) for v in schema["enum"]]
    for alternative in schema.get("oneOf", ()):
        if "enum" in alternative:
            return [str(v) for v in alternative["enum"]]
    return []
