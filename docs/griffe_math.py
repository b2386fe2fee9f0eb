"""Griffe extension for the docs site: render reST ``.. math::`` blocks of docstrings as ``$$`` blocks.

Docstrings follow the JAX-ecosystem habit of ``.. math::`` (readable in ``help()``); the site renders
Markdown with MathJax, so each block becomes a display-math block that ``pymdownx.arithmatex`` keeps.
"""

import re

import griffe

_BLOCK = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<first>.*)(?:\n|$)"
                    r"(?P<body>(?:(?:(?P=indent)[ \t]+\S.*|[ \t]*)(?:\n|$))*)", re.M)


def convert(text: str) -> str:
  def repl(m):
    indent = m.group("indent")
    lines = [m.group("first")] + m.group("body").rstrip("\n").split("\n")
    body = "\n".join(f"{indent}{line.strip()}" for line in lines if line.strip())
    return f"{indent}$$\n{body}\n{indent}$$\n\n"
  return _BLOCK.sub(repl, text)


class MathBlocks(griffe.Extension):
  def on_object(self, *, obj, loader, **kwargs):  # noqa: ARG002
    if obj.docstring is not None:
      obj.docstring.value = convert(obj.docstring.value)
