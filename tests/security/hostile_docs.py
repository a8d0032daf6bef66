"""Hostile drafts (issue 11 §5), made at run time from a few lines each so that nothing big is committed;
each is sized by its caller, just past the limit a test sets or at full size in the benchmark. Also a
big genuine report, written as Word writes one (formatted runs), to show the limits leave it alone."""

from __future__ import annotations

import io
import random
import struct
import zipfile
from collections.abc import Iterable, Iterator
from functools import lru_cache

from tests.drafts import report_text

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
CHUNK = 1 << 20


@lru_cache(maxsize=1)
def blank_word() -> bytes:
    from docx import Document

    buffer = io.BytesIO()
    Document().save(buffer)
    return buffer.getvalue()


def word(document_xml: Iterable[bytes], parts: Iterable[tuple[str, bytes | Iterable[bytes]]] = ()) -> bytes:
    """A .docx from python-docx's blank document with its main part replaced by `document_xml` and
    `parts` put in, each written chunk by chunk (so hundreds of MB never sit in memory at once)."""
    blank = zipfile.ZipFile(io.BytesIO(blank_word()))
    contents = {name: blank.read(name) for name in blank.namelist()} | dict(parts)
    contents["word/document.xml"] = document_xml
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        for name, content in contents.items():
            with package.open(name, "w", force_zip64=not isinstance(content, bytes)) as stream:
                for chunk in [content] if isinstance(content, bytes) else content:
                    stream.write(chunk)
    return out.getvalue()


def body(*chunks: bytes | Iterable[bytes], prolog: str = "") -> Iterator[bytes]:
    yield f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<w:document {W}><w:body>'.encode()
    for chunk in chunks:
        yield from [chunk] if isinstance(chunk, bytes) else chunk
    yield b"</w:body></w:document>"


def repeated(piece: bytes, times: int) -> Iterator[bytes]:
    per_chunk = max(1, CHUNK // len(piece))
    while times > 0:
        yield piece * min(per_chunk, times)
        times -= per_chunk


def with_ids(tag: bytes, times: int) -> Iterator[bytes]:
    """`times` empty elements, each with a random revision id as Word writes them: they compress about
    as well as a real document does, so that no ratio limit catches them."""
    rnd = random.Random(0)
    for start in range(0, times, 10_000):
        yield b"".join(b'<%s w:rsidR="%08X"/>' % (tag, rnd.getrandbits(32)) for _ in range(min(10_000, times - start)))


def paragraph_bomb(paragraphs: int, ids: bool = False) -> bytes:
    """Empty paragraphs: 5 million of them compress to ~77 KB (to ~5:1 with `ids`)."""
    return word(body(with_ids(b"w:p", paragraphs) if ids else repeated(b"<w:p/>", paragraphs)))


def run_bomb(runs: int, ids: bool = False) -> bytes:
    """One paragraph of empty runs: few paragraphs, many elements."""
    return word(body(b"<w:p>", with_ids(b"w:r", runs) if ids else repeated(b"<w:r/>", runs), b"</w:p>"))


def attribute_bomb(attributes: int) -> bytes:
    """One paragraph whose start tag carries `attributes` attributes (each costs ~300 bytes parsed)."""
    names = (b' a%x=""' % i for i in range(attributes))
    return word(body(b"<w:p", names, b"><w:r><w:t>x</w:t></w:r></w:p>"))


def huge_text_node(mb: int) -> bytes:
    return word(body(b"<w:p><w:r><w:t>", repeated(b"a" * CHUNK, mb), b"</w:t></w:r></w:p>"))


def billion_laughs() -> bytes:
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    return word(body(b"<w:p><w:r><w:t>&lol9;</w:t></w:r></w:p>", prolog=f"<!DOCTYPE w:document [{entities}]>"))


def external_entity() -> bytes:
    return word(body("<w:p><w:r><w:t>报告&leak;</w:t></w:r></w:p>".encode(),
                     prolog='<!DOCTYPE w:document [<!ENTITY leak SYSTEM "file:///etc/passwd">]>'))


def zip_bomb_part(mb: int) -> bytes:
    """A picture that inflates from a few KB to `mb` MB of zeros."""
    return word(body(b"<w:p><w:r><w:t>x</w:t></w:r></w:p>"), [("word/media/image1.png", repeated(bytes(CHUNK), mb))])


def lying_sizes(paragraphs: int) -> bytes:
    """A paragraph bomb whose zip headers declare its main part a thousand bytes long."""
    data = bytearray(word(body(repeated(b"<w:p/>", paragraphs))))
    central = data.rfind(b"word/document.xml") - 46  # the central directory, read by unzip, comes last
    struct.pack_into("<I", data, central + 24, 1000)  # its "uncompressed size"
    return bytes(data)


def too_many_parts(parts: int) -> bytes:
    return word(body(b"<w:p><w:r><w:t>x</w:t></w:r></w:p>"), [(f"customXml/item{i}.bin", b"") for i in range(parts)])


def truncated() -> bytes:
    whole = genuine_report(2000)
    return whole[: len(whole) // 2]


PHRASES = ("依法行政", "规范性文件审查", "行政执法监督", "复议诉讼", "普法宣传", "基层治理", "法律顾问",
           "合法性审查", "政务公开", "执法人员培训", "矛盾纠纷化解", "重大行政决策", "公平竞争审查")


def sentence(rnd: random.Random) -> str:
    return "".join(rnd.choice(PHRASES) + rnd.choice("，、和及") for _ in range(8))[:-1] + f"{rnd.randint(2, 99)}件。"


def genuine_lines(chars: int, seed: int = 1) -> list[str]:
    """The five-part report of tests/drafts.py grown to about `chars` characters with body paragraphs."""
    rnd = random.Random(seed)
    lines, size = report_text().splitlines(), 0
    grown: list[str] = []
    for line in lines:
        grown.append(line)
        if line.startswith("一、"):
            while size < chars:
                grown.append("".join(sentence(rnd) for _ in range(3)))
                size += len(grown[-1])
    return grown


def genuine_report(chars: int, seed: int = 1) -> bytes:
    """A real-looking .docx of about `chars` characters: each paragraph in three formatted runs, as Word
    writes them (fonts, size, spacing), the headings typed ("一、")."""
    run = ('<w:r><w:rPr><w:rFonts w:ascii="仿宋_GB2312" w:eastAsia="仿宋_GB2312" w:hAnsi="仿宋_GB2312"/>'
           '<w:sz w:val="32"/><w:szCs w:val="32"/></w:rPr><w:t>{}</w:t></w:r>')
    paragraph = ('<w:p><w:pPr><w:spacing w:line="560" w:lineRule="exact"/><w:ind w:firstLineChars="200"/></w:pPr>'
                 '{}</w:p>')

    def xml() -> Iterator[bytes]:
        for line in genuine_lines(chars, seed):
            thirds = [line[i * len(line) // 3:(i + 1) * len(line) // 3] for i in range(3)]
            yield paragraph.format("".join(run.format(t) for t in thirds if t)).encode()

    return word(body(xml()))
