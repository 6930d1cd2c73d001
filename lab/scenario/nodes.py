r"""A scenario's YAML parsed once into nodes and a document; where in it: the line of a value, the
first key given twice (the loader's `file:line:` complaints).

    >>> import yaml
    >>> root = yaml.compose("a: 1\nb:\n  - x\n  - y\n", Loader=yaml.SafeLoader)
    >>> line_of(root, ["b", 1]), duplicate_key(yaml.compose("a: 1\na: 2\n", Loader=yaml.SafeLoader))
    (4, (2, 'a'))
"""

import yaml

# libyaml's parser when PyYAML has it (its wheels do): the catalogue loads in a third of the
# CPU time (45 files: 2.0 s with the pure-Python one, 0.6 s)
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse(text):
    """(root node, document): one parse, the document built from the nodes the lines come from."""
    loader = YAML_LOADER(text)
    try:
        root = loader.get_single_node()
        return root, loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()


def line_of(node, where):
    """The 1-based YAML line of the value at `where` (a path of keys and indexes);
    for a mapping entry, the line of its key."""
    line = node.start_mark.line
    for key in where:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if k.value == key]
            if not match:
                break
            line, node = match[0][0].start_mark.line, match[0][1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line
        else:
            break
    return line + 1


def duplicate_key(node):
    """(line, key) of the first key given twice in any mapping, or None."""
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key, value in node.value:
            if key.value in seen:
                return key.start_mark.line + 1, key.value
            seen.add(key.value)
        children = [v for _, v in node.value]
    elif isinstance(node, yaml.SequenceNode):
        children = node.value
    else:
        return None
    return next((found for child in children if (found := duplicate_key(child))), None)
