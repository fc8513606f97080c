"""Synthetic PRC resident ID cards, for tests, the bench and the demo.

Every card is invented: names are drawn from a list of common characters, numbers are generated
with a valid GB 11643 check digit, addresses name invented streets. Nothing here is a real
person's data, and nothing here is a real card's security artwork (the emblem is a plain mark).

The layout follows the real card (85.6 x 54 mm, ISO/IEC 7810 ID-1), with positions in millimetres
so that the picture can be rendered at any resolution. Pillow draws it; a CJK font is needed
(Debian's fonts-wqy-zenhei or fonts-noto-cjk, or OPENLEND_CJK_FONT pointing at any .ttf/.ttc/.otf).
"""

from __future__ import annotations

import io
import math
import os
import random
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont
from stdnum.cn import ric

CARD_MM = (85.6, 54.0)

# Checked in the order given; the first that exists is used.
_CJK_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)

LABEL_COLOUR = (46, 110, 170)  # the card prints its labels in blue, the values in black
VALUE_COLOUR = (20, 20, 20)


class CjkFontMissing(RuntimeError):
    """No CJK font on this machine: install fonts-wqy-zenhei or set OPENLEND_CJK_FONT."""


def find_cjk_font() -> Path:
    env = os.environ.get("OPENLEND_CJK_FONT")
    if env:
        if Path(env).is_file():
            return Path(env)
        raise CjkFontMissing(f"OPENLEND_CJK_FONT={env} is not a file")
    for candidate in _CJK_FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    for root in ("/usr/share/fonts", "/usr/local/share/fonts", str(Path.home() / ".fonts")):
        for pattern in ("*CJK*", "*wqy*", "*SourceHan*"):
            for path in sorted(Path(root).rglob(pattern)) if Path(root).is_dir() else ():
                if path.suffix.lower() in (".ttf", ".ttc", ".otf"):
                    return path
    raise CjkFontMissing(
        "no CJK font found: `apt-get install -y fonts-wqy-zenhei`, or set OPENLEND_CJK_FONT"
    )


@lru_cache(maxsize=64)
def _font(size_px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(find_cjk_font()), size_px)


# --- invented holders -------------------------------------------------------------------------

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程苏魏吕丁任沈姚卢傅钟姜崔谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
_GIVEN = "伟芳娜秀敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂英华玉兰萍红鹏辉晓宇浩然子轩欣怡思远佳琪梓涵雨桐一鸣嘉豪文博志宏建国海燕春梅立新永康德胜晨阳若溪舟"
_ETHNICITIES = ("汉", "汉", "汉", "汉", "回", "满", "壮", "蒙古", "土家", "朝鲜")
# (region code, address prefix, issuing authority); codes are real so the number validates,
# the streets after the prefix are invented.
_REGIONS = (
    ("110101", "北京市东城区", "北京市公安局东城分局"),
    ("310104", "上海市徐汇区", "上海市公安局徐汇分局"),
    ("440305", "广东省深圳市南山区", "深圳市公安局南山分局"),
    ("330106", "浙江省杭州市西湖区", "杭州市公安局西湖分局"),
    ("510107", "四川省成都市武侯区", "成都市公安局武侯区分局"),
    ("420106", "湖北省武汉市武昌区", "武汉市公安局武昌分局"),
    ("610113", "陕西省西安市雁塔区", "西安市公安局雁塔分局"),
    ("350203", "福建省厦门市思明区", "厦门市公安局思明分局"),
)
_STREET_WORDS = "青柳松竹云溪枫桥望湖春晖长宁和平新华光明清源朝阳"


@dataclass(frozen=True)
class CardHolder:
    name: str
    sex: str  # "男" or "女"
    ethnicity: str
    birth_date: date
    address: str
    number: str
    authority: str
    valid_from: date
    valid_until: date | None  # None: 长期 (long-term)


def make_number(region: str, birth: date, sequence: int) -> str:
    """An 18-digit number with the GB 11643 check digit computed, never copied from anyone."""
    body = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return body + ric.calc_check_digit(body + "0")


def invent_holder(seed: int, *, long_term: bool = False) -> CardHolder:
    rnd = random.Random(seed)
    region, place, authority = rnd.choice(_REGIONS)
    sex = rnd.choice("男女")
    birth = date(1960, 1, 1) + timedelta(days=rnd.randrange(0, 365 * 40))
    seq = rnd.randrange(0, 500) * 2 + (1 if sex == "男" else 0)  # 17th digit odd for men
    street = "".join(rnd.choice(_STREET_WORDS) for _ in range(2)) + rnd.choice(("路", "街", "大道"))
    address = f"{place}{street}{rnd.randrange(1, 300)}号{rnd.randrange(1, 30)}栋{rnd.randrange(101, 2600)}室"
    valid_from = date(2012 + rnd.randrange(0, 12), rnd.randrange(1, 13), rnd.randrange(1, 29))
    valid_until = None if long_term else valid_from.replace(year=valid_from.year + 20)
    name = rnd.choice(_SURNAMES) + "".join(rnd.choice(_GIVEN) for _ in range(rnd.choice((1, 2))))
    number = make_number(region, birth, seq)
    if not ric.is_valid(number):  # the region code was not yet assigned in the birth year
        return invent_holder(seed + 7919, long_term=long_term)
    return CardHolder(
        name=name,
        sex=sex,
        ethnicity=rnd.choice(_ETHNICITIES),
        birth_date=birth,
        address=address,
        number=number,
        authority=authority,
        valid_from=valid_from,
        valid_until=valid_until,
    )


# --- drawing ----------------------------------------------------------------------------------


class _Canvas:
    def __init__(self, px_per_mm: float, seed: int):
        self.k = px_per_mm
        w, h = round(CARD_MM[0] * px_per_mm), round(CARD_MM[1] * px_per_mm)
        self.img = _background(w, h, seed)
        self.draw = ImageDraw.Draw(self.img)

    def text(self, x_mm, y_mm, text, size_mm, colour, spacing_mm=0.0):
        font = _font(max(8, round(size_mm * self.k)))
        x, y = x_mm * self.k, y_mm * self.k
        if not spacing_mm:
            self.draw.text((x, y), text, font=font, fill=colour)
            return
        for ch in text:
            self.draw.text((x, y), ch, font=font, fill=colour)
            x += font.getlength(ch) + spacing_mm * self.k


def _background(w: int, h: int, seed: int) -> Image.Image:
    """Pale grey-green with faint guilloche waves: enough texture to make the OCR work for it."""
    img = Image.new("RGB", (w, h), (232, 238, 230))
    draw = ImageDraw.Draw(img)
    rnd = random.Random(seed)
    for i in range(0, h, max(4, h // 60)):
        phase = rnd.random() * 6.28
        pts = [(x, i + 6 * math.sin(x / 37.0 + phase)) for x in range(0, w, 6)]
        draw.line(pts, fill=(214, 226, 214), width=1)
    draw.rounded_rectangle((0, 0, w - 1, h - 1), radius=round(w * 0.04), outline=(190, 200, 190))
    return img


def render_front(holder: CardHolder, *, px_per_mm: float = 10.0, seed: int = 0) -> Image.Image:
    c = _Canvas(px_per_mm, seed)
    label, value = 3.0, 3.4
    c.text(6.5, 6.0, "姓名", label, LABEL_COLOUR, spacing_mm=0.8)
    c.text(16.5, 5.6, holder.name, value + 0.4, VALUE_COLOUR)
    c.text(6.5, 12.5, "性别", label, LABEL_COLOUR, spacing_mm=0.8)
    c.text(16.5, 12.3, holder.sex, value, VALUE_COLOUR)
    c.text(27.0, 12.5, "民族", label, LABEL_COLOUR, spacing_mm=0.8)
    c.text(37.0, 12.3, holder.ethnicity, value, VALUE_COLOUR)
    b = holder.birth_date
    c.text(6.5, 19.0, "出生", label, LABEL_COLOUR, spacing_mm=0.8)
    c.text(16.5, 18.8, f"{b.year}", value, VALUE_COLOUR)
    c.text(26.5, 19.0, "年", label, LABEL_COLOUR)
    c.text(30.5, 18.8, f"{b.month}", value, VALUE_COLOUR)
    c.text(34.5, 19.0, "月", label, LABEL_COLOUR)
    c.text(38.5, 18.8, f"{b.day}", value, VALUE_COLOUR)
    c.text(42.5, 19.0, "日", label, LABEL_COLOUR)
    c.text(6.5, 25.5, "住址", label, LABEL_COLOUR, spacing_mm=0.8)
    for i, line in enumerate(_wrap(holder.address, 11)[:3]):
        c.text(16.5, 25.3 + i * 4.6, line, value, VALUE_COLOUR)
    c.text(6.5, 45.0, "公民身份号码", label, LABEL_COLOUR, spacing_mm=0.2)
    c.text(31.0, 44.6, holder.number, value + 0.4, VALUE_COLOUR, spacing_mm=0.55)
    _portrait(c, (56.0, 5.5, 80.0, 36.5))
    return c.img


def holder_for(name: str, number: str) -> CardHolder:
    """A card holder for a given (invented) name and ID number: sex and birth date from the number."""
    birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    return CardHolder(name=name, sex="男" if int(number[16]) % 2 else "女", ethnicity="汉", birth_date=birth,
                      address="北京市东城区示例路1号2栋301室", number=number, authority="北京市公安局东城分局",
                      valid_from=date(2018, 5, 1), valid_until=date(2038, 5, 1))


def front_with_portrait(holder: CardHolder, portrait: Image.Image, *, px_per_mm: float = 10.0) -> Image.Image:
    """The front with a photograph in the portrait box (the face checks need a face there)."""
    front = render_front(holder, px_per_mm=px_per_mm)
    k = px_per_mm
    box = (int(56.0 * k), int(5.5 * k), int(80.0 * k), int(36.5 * k))
    front.paste(portrait.convert("RGB").resize((box[2] - box[0], box[3] - box[1])), box[:2])
    return front


def render_back(holder: CardHolder, *, px_per_mm: float = 10.0, seed: int = 1) -> Image.Image:
    c = _Canvas(px_per_mm, seed)
    _emblem(c, 12.5, 12.0, 7.0)
    c.text(27.0, 7.0, "中华人民共和国", 5.0, VALUE_COLOUR, spacing_mm=1.0)
    c.text(25.0, 16.5, "居民身份证", 7.2, VALUE_COLOUR, spacing_mm=1.6)
    c.text(16.0, 37.5, "签发机关", 3.0, VALUE_COLOUR, spacing_mm=0.5)
    c.text(32.0, 37.3, holder.authority, 3.4, VALUE_COLOUR)
    c.text(16.0, 44.0, "有效期限", 3.0, VALUE_COLOUR, spacing_mm=0.5)
    until = "长期" if holder.valid_until is None else f"{holder.valid_until:%Y.%m.%d}"
    c.text(32.0, 43.8, f"{holder.valid_from:%Y.%m.%d}-{until}", 3.4, VALUE_COLOUR)
    return c.img


def _wrap(text: str, width: int) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width)]


def _portrait(c: _Canvas, box_mm):
    x0, y0, x1, y1 = (v * c.k for v in box_mm)
    c.draw.rectangle((x0, y0, x1, y1), fill=(222, 228, 224))
    cx, w = (x0 + x1) / 2, x1 - x0
    c.draw.ellipse((cx - w * 0.2, y0 + w * 0.2, cx + w * 0.2, y0 + w * 0.7), fill=(150, 150, 150))
    c.draw.pieslice((x0 + w * 0.08, y0 + w * 0.72, x1 - w * 0.08, y1 + w * 0.5), 180, 360, fill=(150, 150, 150))


def _emblem(c: _Canvas, cx_mm, cy_mm, r_mm):
    """A plain red disc and a gold star: a stand-in, deliberately not the national emblem."""
    cx, cy, r = cx_mm * c.k, cy_mm * c.k, r_mm * c.k
    c.draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(196, 40, 36))
    pts = []
    for i in range(10):
        a = -math.pi / 2 + i * math.pi / 5
        rr = r * (0.6 if i % 2 == 0 else 0.24)
        pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    c.draw.polygon(pts, fill=(245, 200, 60))


# --- distortions a phone camera adds ----------------------------------------------------------


def rotate(img: Image.Image, degrees: float) -> Image.Image:
    """Counter-clockwise, on a dark desk, the canvas grown to keep the whole card."""
    if degrees % 90 == 0:
        return img.rotate(degrees, expand=True)
    return img.rotate(degrees, expand=True, resample=Image.BICUBIC, fillcolor=(60, 60, 64))


def blur(img: Image.Image, radius: float) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(radius))


def crop(img: Image.Image, *, left=0.0, top=0.0, right=0.0, bottom=0.0) -> Image.Image:
    """Cut the given fractions off each edge."""
    w, h = img.size
    return img.crop((round(w * left), round(h * top), round(w * (1 - right)), round(h * (1 - bottom))))


def on_desk(img: Image.Image, margin: float = 0.08) -> Image.Image:
    """The card photographed with some desk around it."""
    w, h = img.size
    m = round(w * margin)
    out = Image.new("RGB", (w + 2 * m, h + 2 * m), (60, 60, 64))
    out.paste(img, (m, m))
    return out


def to_bytes(img: Image.Image, fmt: str = "PNG", quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **({"quality": quality} if fmt.upper() == "JPEG" else {}))
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    """`python -m openlend.identity.render OUTDIR [SEED]`: write an invented card's two sides."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else ".")
    out.mkdir(parents=True, exist_ok=True)
    holder = invent_holder(int(args[1]) if len(args) > 1 else 0)
    render_front(holder).save(out / "idcard-front.png")
    render_back(holder).save(out / "idcard-back.png")
    print(f"{out}/idcard-front.png, {out}/idcard-back.png: {holder.name} {holder.number}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
