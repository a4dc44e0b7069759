"""The one place where XML is opened: parsers without network, DTD loading or entity expansion.

Every reader goes through `parse_file` (small side files: listPerson, listOrg) or `walk` (the corpus
itself, streamed with `lxml.etree.iterparse`).  Both

- refuse a DOCTYPE that declares entities before libxml2 sees the file (billion laughs, external
  entities pointing at local files), and check the parsed DOCTYPE again as a second line of defence;
- never load a DTD, never touch the network, never expand an entity;
- turn a syntax error into a `UserError` "file:line:column: message".

`walk` also follows `xi:include` itself (instead of `tree.xinclude()`), one included file at a time, so
memory stays flat, and only for hrefs that resolve to a file inside the corpus folder.
"""

from __future__ import annotations

import codecs
import mmap
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from lxml import etree

from app.errors import UserError

TEI_NS = "http://www.tei-c.org/ns/1.0"
XI_NS = "http://www.w3.org/2001/XInclude"
XML_NS = "http://www.w3.org/XML/1998/namespace"
XML_ID = f"{{{XML_NS}}}id"
XI_INCLUDE = f"{{{XI_NS}}}include"

# huge_tree=False keeps libxml2's limits (10 MB text node, depth 256): a corpus never needs more
PARSER_OPTIONS = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False}

# how much of a file's start may hold the prolog (XML declaration, comments, DOCTYPE) before the root
_PROLOG_LIMIT = 1 << 20
_ERROR_POSITION = re.compile(r",\s*line \d+,\s*column \d+\s*$")


def make_parser() -> etree.XMLParser:
    return etree.XMLParser(dtd_validation=False, attribute_defaults=False, **PARSER_OPTIONS)


def _read_prolog(path: Path) -> str:
    """The start of the file decoded well enough to see markup (ASCII) in UTF-8/UTF-16/Latin-1 files."""
    with open(path, "rb") as handle:
        head = handle.read(_PROLOG_LIMIT)
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8) :]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return head.decode("utf-16", errors="replace")
    if head[:4] in (b"<\x00?\x00", b"\x00<\x00?"):  # UTF-16 without BOM
        return head.decode("utf-16-le" if head[0] == 0x3C else "utf-16-be", errors="replace")
    return head.decode("latin-1")


def check_prolog(path: Path) -> None:
    """Refuse a DOCTYPE with entity declarations before the parser reads anything else.

    Scans the prolog (XML declaration, comments, processing instructions, DOCTYPE) up to the root
    element.  A DOCTYPE naming an external DTD is harmless here (it is never loaded) and allowed.
    """
    text = _read_prolog(path)
    pos = 1 if text.startswith("\ufeff") else 0
    size = len(text)
    while pos < size:
        while pos < size and text[pos] in " \t\r\n":
            pos += 1
        if text.startswith("<?", pos):
            end = text.find("?>", pos)
            pos = end + 2
        elif text.startswith("<!--", pos):
            end = text.find("-->", pos)
            pos = end + 3
        elif text.startswith("<!DOCTYPE", pos):
            declaration = _doctype_span(text, pos)
            if declaration is None:
                raise UserError(f"{path}: the DOCTYPE is unterminated or longer than {_PROLOG_LIMIT:,} bytes; refused")
            if "<!ENTITY" in declaration:
                line = text.count("\n", 0, pos) + 1
                raise UserError(
                    f"{path}:{line}: the DOCTYPE declares entities; refused (entities are never expanded "
                    "or fetched: remove the DOCTYPE's internal subset)"
                )
            end = pos
            pos += len(declaration)
        else:
            return  # the root element (or garbage, which the parser reports with its position)
        if end < 0:
            return


def _doctype_span(text: str, start: int) -> str | None:
    """The DOCTYPE declaration from `start`, internal subset included (quotes respected)."""
    depth = 0
    quote = ""
    for index in range(start + 2, len(text)):
        char = text[index]
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == ">" and depth <= 0:
            return text[start : index + 1]
    return None  # unterminated within what was read


def _check_docinfo(tree: etree._ElementTree, path: Path) -> None:
    # second line of defence (e.g. an encoding the prolog scan cannot read): libxml2 parses the internal
    # subset without expanding anything, so a declared entity is visible here
    dtd = tree.docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise UserError(f"{path}: the DOCTYPE declares entities; refused")


def syntax_error(path: Path, err: etree.XMLSyntaxError) -> UserError:
    line, column = err.position if err.position else (err.lineno or 0, err.offset or 0)
    message = _ERROR_POSITION.sub("", err.msg or str(err)).strip()
    return UserError(f"{path}:{line}:{column}: malformed XML: {message}")


def _open_error(path: Path, err: OSError) -> UserError:
    return UserError(f"{path}: cannot read: {err.strerror or err}")


def parse_file(path: Path) -> etree._ElementTree:
    """Parse a whole (small) file safely: listPerson, listOrg, corpus roots."""
    path = Path(path)
    try:
        check_prolog(path)
        tree = etree.parse(str(path), make_parser())
    except etree.XMLSyntaxError as err:
        raise syntax_error(path, err) from None
    except OSError as err:
        raise _open_error(path, err) from None
    _check_docinfo(tree, path)
    return tree


def iterparse(
    path: Path, tags: Iterable[str], events: tuple[str, ...] = ("end",)
) -> Iterator[tuple[str, etree._Element]]:
    """`etree.iterparse` over `path`, filtered to `tags`, with the safe options and error wrapping."""
    path = Path(path)
    try:
        check_prolog(path)
        context = etree.iterparse(str(path), events=events, tag=list(tags), **PARSER_OPTIONS)
        checked = False
        for event, elem in context:
            if not checked:
                _check_docinfo(elem.getroottree(), path)
                checked = True
            yield event, elem
    except etree.XMLSyntaxError as err:
        raise syntax_error(path, err) from None
    except OSError as err:
        raise _open_error(path, err) from None


def release(elem: etree._Element) -> None:
    """Free a processed element and everything before it in its parent (flat memory while streaming)."""
    elem.clear(keep_tail=False)
    drop_preceding(elem)


def drop_preceding(elem: etree._Element) -> None:
    """Remove what precedes a processed element in its parent (read already, or never wanted)."""
    parent = elem.getparent()
    if parent is not None:
        while elem.getprevious() is not None:
            del parent[0]


def _location(elem: etree._Element, path: Path) -> str:
    return f"{path}:{elem.sourceline}" if elem.sourceline else str(path)


def resolve_include(elem: etree._Element, path: Path, corpus_dir: Path) -> Path:
    """The file an `xi:include` points to, if it is a plain local XML include inside `corpus_dir`."""
    href = (elem.get("href") or "").strip()
    where = _location(elem, path)
    if not href:
        raise UserError(f"{where}: xi:include without href")
    if elem.get("parse", "xml") != "xml" or elem.get("xpointer") is not None:
        raise UserError(f"{where}: only whole-file XML includes are supported (href={href!r})")
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", href) or href.startswith(("/", "\\")):
        raise UserError(f"{where}: xi:include href={href!r} must be a relative path inside the corpus folder")
    target = (path.parent / href).resolve()
    root = Path(corpus_dir).resolve()
    if not target.is_relative_to(root):
        raise UserError(f"{where}: xi:include href={href!r} leaves the corpus folder {root}; refused")
    if not target.is_file():
        raise UserError(f"{where}: xi:include href={href!r}: file not found ({target})")
    return target


def walk(
    path: Path,
    tags: Iterable[str],
    corpus_dir: Path,
    events: tuple[str, ...] = ("end",),
    _seen: tuple[Path, ...] = (),
) -> Iterator[tuple[str, etree._Element, Path]]:
    """Stream (event, element, file) for `tags` from `path`, following `xi:include` in document order.

    The caller releases the elements it is done with (`release`).  An included file is streamed when
    its `xi:include` element ends, exactly where the include stands in the including file.
    """
    path = Path(path).resolve()
    tags = list(tags)
    for event, elem in iterparse(path, tags + [XI_INCLUDE], events):
        if elem.tag == XI_INCLUDE:
            if event == "end":
                target = resolve_include(elem, path, corpus_dir)
                if target == path or target in _seen:
                    raise UserError(f"{_location(elem, path)}: xi:include of {target.name} loops back to itself")
                yield from walk(target, tags, corpus_dir, events, _seen + (path,))
            continue
        yield event, elem, path


def _may_include(path: Path) -> bool:
    """False when the file cannot hold an xi:include: it never names the XInclude namespace.

    A byte search (mmap, about 1 GB/s) spares parsing a large corpus file just to list its includes.
    """
    with open(path, "rb") as handle:
        head = handle.read(4)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in head:
            return True  # UTF-16: not searched as bytes, parse it
        handle.seek(0)
        try:
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return data.find(XI_NS.encode("ascii")) >= 0
        except ValueError:  # empty file
            return False


def included_files(path: Path, corpus_dir: Path, _seen: tuple[Path, ...] = ()) -> list[Path]:
    """Every file reached from `path` through `xi:include` (recursively), for fingerprints."""
    path = Path(path).resolve()
    found: list[Path] = []
    try:
        if not _may_include(path):
            return found
    except OSError as err:
        raise _open_error(path, err) from None
    for _event, elem in iterparse(path, [XI_INCLUDE]):
        target = resolve_include(elem, path, corpus_dir)
        if target == path or target in _seen:
            raise UserError(f"{_location(elem, path)}: xi:include of {target.name} loops back to itself")
        found.append(target)
        found.extend(included_files(target, corpus_dir, _seen + (path,)))
    return found
