"""Real test documents for the knowledge-base tests: PDFs printed by headless chromium from HTML (so page
breaks fall where a browser puts them, mid-sentence), .docx written with python-docx, and bad files
(encrypted, image-only, binary renamed .pdf). No mocks: every file is what a user could upload.
"""
from __future__ import annotations

import html
import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("PILOTQA_CHROMIUM", "/usr/bin/chromium")
PDF_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]

# A document whose figures the pilots corpus does not have (checked in the tests).
PARKING_TITLE = "关于推进县城智慧停车设施建设的指导意见"
PARKING_FIGURE = "到2025年，全省县城新建智慧停车泊位12.8万个"
PARKING_QUESTION = "全省县城到2025年要新建多少个智慧停车泊位？"
PAGE2_FIGURE = "到2027年，县城停车泊位缺口率降至5%以下"
PARKING_PARAGRAPHS = [
    PARKING_TITLE,
    "为缓解县城停车难问题，提升县城综合承载能力，现就推进县城智慧停车设施建设提出如下意见。",
    "一、总体要求",
    "坚持政府引导、市场运作，统筹存量挖潜与增量建设。" + PARKING_FIGURE + "，县城公共停车场智能化改造率达到90%。",
    "二、重点任务",
    "（一）加快停车设施建设。结合老旧小区改造和城市更新，利用边角地、闲置地建设立体停车库，"
    "鼓励机关企事业单位停车场错时向社会开放。" + "按照“统一平台、分级管理”的原则推进建设。" * 6,
    "（二）建设智慧停车平台。整合路内泊位、公共停车场和专用停车场数据，实现泊位查询、预约和无感支付，"
    "县城智慧停车平台接入率达到100%。" + "加强数据共享和运行监测，定期发布停车供需信息。" * 8,
    "三、保障措施",
    "（一）强化组织领导。各县（市）人民政府是县城停车设施建设的责任主体，要建立工作协调机制。" * 5,
    "（二）完善价格机制。推行差别化停车收费，中心区域高于外围区域、路内高于路外、白天高于夜间。" * 5,
    "（三）加强用地保障。" + "将停车设施用地纳入国土空间规划，优先安排公共停车场建设用地，允许利用地下空间分层设立建设用地使用权。" * 9,
    "（四）强化考核评估。" + "建立年度评估制度，将智慧停车设施建设情况纳入县城建设工作考核，" * 6 + PAGE2_FIGURE + "。",
]


def need_chromium() -> str:
    path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not path:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is required when CI=true (scripts/setup.sh --browser)")
        pytest.skip(f"chromium not found at {CHROMIUM}")
    return path


def print_pdf(paragraphs: list[str], out: Path, *, font_px: int = 15, header_footer: bool = True) -> Path:
    """Print `paragraphs` (one <p> each; "" = an empty line) to a PDF with chromium; returns `out`."""
    chromium = need_chromium()
    out = Path(out)
    page = out.with_suffix(".html")
    body = "\n".join(f"<p>{html.escape(t) if t.strip() else '&nbsp;'}</p>" for t in paragraphs)
    page.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>测试文件</title><style>"
        f"body{{font-family:'Noto Serif CJK SC','Noto Sans CJK SC';font-size:{font_px}px;line-height:1.7}}"
        "p{margin:0 0 .6em 0}</style></head><body>" + body + "</body></html>", encoding="utf-8")
    args = [chromium, *PDF_ARGS, f"--print-to-pdf={out}"]
    if not header_footer:
        args.append("--no-pdf-header-footer")
    subprocess.run(args + [page.as_uri()], check=True, capture_output=True, timeout=120)
    page.unlink()
    if not out.is_file() or out.stat().st_size == 0:
        pytest.fail(f"chromium printed no PDF to {out}")
    return out


def text_file_pdf(src: Path, out: Path) -> Path:
    """A PDF rendering of a text file: each line one paragraph, blank lines kept (as the corpus was typeset)."""
    lines = src.read_text(encoding="utf-8").split("\n")
    return print_pdf(lines, out, font_px=14)


def write_docx(out: Path, title: str, blocks: list[tuple[str, str]]) -> Path:
    """A .docx: a Title paragraph, then (style, text) blocks; style "h1"/"h2" = Heading 1/2, "p" = Normal,
    "table" = text with rows separated by ";" and cells by ","."""
    import docx

    d = docx.Document()
    d.add_paragraph(title, style="Title")
    for style, text in blocks:
        if style in ("h1", "h2"):
            d.add_heading(text, level=int(style[1]))
        elif style == "table":
            rows = [r.split(",") for r in text.split(";")]
            t = d.add_table(rows=len(rows), cols=len(rows[0]))
            for i, r in enumerate(rows):
                for j, cell in enumerate(r):
                    t.cell(i, j).text = cell
        else:
            d.add_paragraph(text)
    d.save(str(out))
    return out


def encrypted_pdf(src: Path, out: Path, password: str = "secret") -> Path:
    from pypdf import PdfReader, PdfWriter

    w = PdfWriter()
    for page in PdfReader(str(src)).pages:
        w.add_page(page)
    w.encrypt(user_password=password, owner_password=password + "-owner")
    with open(out, "wb") as f:
        w.write(f)
    return out


def image_only_pdf(out: Path) -> Path:
    """A 'scanned' page: a picture of text, no text layer (what a scanner produces)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (1240, 1754), "white")
    draw = ImageDraw.Draw(img)
    for i in range(30):
        draw.rectangle([120, 150 + i * 50, 1100 - (i % 4) * 120, 175 + i * 50], fill="black")
    img.save(out, "PDF", resolution=150.0)
    return out


# --------------------------------------------------------------------------- files that unpack to too much


W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def docx_bomb(out: Path, inflated: int, *, base: Path | None = None) -> Path:
    """A valid .docx whose word/document.xml is `inflated` bytes of tiny paragraphs, deflated to a few KB per MB
    (a zip bomb): the other parts come from a real python-docx file."""
    import zipfile

    base = base or write_docx(out.with_name(out.stem + "-base.docx"), "膨胀测试", [("p", "正文。")])
    head = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document xmlns:w="{W_NS}"><w:body>'
            ).encode()
    tail = b"<w:sectPr/></w:body></w:document>"
    para = "<w:p><w:r><w:t>城镇化</w:t></w:r></w:p>".encode()
    block = para * (1024 * 1024 // len(para))
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for info in src.infolist():
            if info.filename != "word/document.xml":
                z.writestr(info, src.read(info))
                continue
            with z.open("word/document.xml", "w", force_zip64=inflated > 2**31) as f:
                f.write(head)
                left = inflated - len(head) - len(tail)
                while left > 0:
                    piece = block[: left - left % len(para)] if left < len(block) else block
                    if not piece:
                        break
                    f.write(piece)
                    left -= len(piece)
                f.write(tail)
    return out


def docx_lying(out: Path, real: int = 2 * 1024 * 1024, said: int = 4096) -> Path:
    """A .docx whose ZIP directory (and local header) says word/document.xml is `said` bytes, while its deflated
    data inflates to `real` bytes: zip tools that trust the directory read past what they planned for."""
    import struct

    docx_bomb(out, real)
    data = bytearray(out.read_bytes())
    name = b"word/document.xml"
    central = data.find(b"PK\x01\x02")  # the first central-directory entry
    while central >= 0:
        n = struct.unpack_from("<H", data, central + 28)[0]
        if bytes(data[central + 46: central + 46 + n]) == name:
            struct.pack_into("<I", data, central + 24, said)  # uncompressed size
            local = struct.unpack_from("<I", data, central + 42)[0]
            struct.pack_into("<I", data, local + 22, said)
            break
        central = data.find(b"PK\x01\x02", central + 4)
    else:
        raise AssertionError("word/document.xml not found in the central directory")
    out.write_bytes(bytes(data))
    return out


def text_pdf(out: Path, pages: int, lines_per_page: int = 40, *, text: str = "Urbanization pilot plan line",
             bomb: int = 0) -> Path:
    """A PDF written by hand: `pages` pages of `lines_per_page` lines of Helvetica text (a big but legal file);
    with `bomb`, page 1 also draws a flate stream of `bomb` bytes of spaces (a decompression bomb)."""
    import zlib

    objs: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for p in range(pages):
        ops = ["BT /F1 10 Tf 14 TL 50 780 Td"] + [f"({text} {p + 1}.{i + 1}) '" for i in range(lines_per_page)] + ["ET"]
        content = zlib.compress("\n".join(ops).encode("latin-1"))
        objs.append(b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream")
        contents = f"{len(objs)} 0 R"
        if bomb and p == 0:
            packed = zlib.compressobj(9)
            chunk = b" " * (1 << 20)
            data = b"".join(packed.compress(chunk) for _ in range(bomb >> 20)) + packed.flush()
            objs.append(b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream")
            contents = f"[{len(objs) - 1} 0 R {len(objs)} 0 R]"
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> "
                    f"/Contents {contents} >>".encode())
        kids.append(f"{len(objs)} 0 R")
    objs[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {pages} >>".encode()
    body = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, obj in enumerate(objs, 1):
        offsets.append(len(body))
        body += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    body += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    Path(out).write_bytes(bytes(body))
    return Path(out)
