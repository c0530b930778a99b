"""Text works and pirate pages for the text and link tests.

Chinese "novels" are strung together from OpenCC's phrase table (real words, each with its
traditional form), so a copy can be reposted in traditional characters; English text is the
demo's sample story and the Python language reference shipped with Python.
"""

from __future__ import annotations

import html
import pydoc_data.topics
import random
from functools import lru_cache
from importlib import resources

from swordnet.demo.run import chapters
from swordnet.demo.samples import sample_text

Chapter = tuple[str, list[str]]
ADS = ["澳门首家线上赌场上线啦，注册即送八十八元彩金", "点击下载本站客户端，看小说永久免费无广告",
       "Hot singles in your area, click now", "全场VPN一折起，限时抢购"]


@lru_cache(maxsize=1)
def _phrases() -> list[tuple[str, str]]:
    path = resources.files("opencc") / "dictionary" / "STPhrases.txt"
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        simplified, traditional = line.split("\t")[:2]
        traditional = traditional.split()[0]
        if len(simplified) >= 2 and simplified != traditional:
            pairs.append((simplified, traditional))
    return pairs


def chinese_novel(seed: int, chapters: int = 6, paragraphs: int = 6,
                  sentences: int = 5) -> tuple[list[Chapter], list[Chapter]]:
    """The same novel in simplified and in traditional characters."""
    rnd = random.Random(seed)
    phrases = _phrases()
    simple: list[Chapter] = []
    traditional: list[Chapter] = []
    for number in range(1, chapters + 1):
        s_paras, t_paras = [], []
        for _ in range(paragraphs):
            s_sent, t_sent = [], []
            for _ in range(sentences):
                words = [rnd.choice(phrases) for _ in range(rnd.randint(4, 7))]
                s_sent.append("".join(w[0] for w in words) + "。")
                t_sent.append("".join(w[1] for w in words) + "。")
            s_paras.append("".join(s_sent))
            t_paras.append("".join(t_sent))
        simple.append((f"第{number}章 {phrases[rnd.randrange(len(phrases))][0]}", s_paras))
        traditional.append((simple[-1][0], t_paras))
    return simple, traditional


def as_document(chapters: list[Chapter], title: str = "") -> str:
    parts = [title] if title else []
    for heading, paragraphs in chapters:
        parts.append(heading)
        parts.extend(paragraphs)
    return "\n\n".join(parts)


def story() -> list[Chapter]:
    """The demo's English sample story, chapter by chapter."""
    path, _ = sample_text()
    return chapters(path)


def english_topic(name: str) -> str:
    """A section of the Python language reference (real English prose, unrelated to works)."""
    return pydoc_data.topics.topics[name]


def mangle(paragraphs: list[str], seed: int, ad_every: int = 5) -> list[str]:
    """As pirate sites repost: paragraphs reordered, an ad after every ``ad_every``-th
    sentence (a fifth of them with the default), punctuation and spacing changed."""
    rnd = random.Random(seed)
    shown = paragraphs[:]
    rnd.shuffle(shown)
    out, count = [], 0
    for paragraph in shown:
        sentences = [s for s in paragraph.replace("。", "。\n").replace(". ", ".\n").split("\n")
                     if s.strip()]
        kept = []
        for sentence in sentences:
            count += 1
            kept.append(sentence.replace("，", " , ").replace(",", "，"))
            if count % ad_every == 0:
                kept.append(rnd.choice(ADS))
        out.append("  ".join(kept))
    return out


def pirate_page(title: str, paragraphs: list[str], *, sidebar: str = "",
                comments: list[str] = (), links: str = "", encoding: str = "utf-8") -> bytes:
    """A novel site's chapter page: navigation, the chapter, a sidebar, comments, a footer."""
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    nav = "".join(f'<li><a href="/book/{n}.html">第{n}章</a></li>' for n in range(1, 30))
    page = (f'<!doctype html><html><head><meta charset="{encoding}"><title>'
            f"{html.escape(title)}</title></head><body><ul class=nav>{nav}</ul>"
            f"<h1>{html.escape(title)}</h1><div id=content>{body}</div>{links}"
            f'<aside class="sidebar"><h3>热门推荐</h3><p>{html.escape(sidebar)}</p></aside>'
            '<div class="comments">'
            + "".join(f'<div class="comment"><p>{html.escape(c)}</p></div>' for c in comments)
            + "</div><footer>本站所有小说均来自网友上传 Copyright 2026 盗版小说网</footer>"
            "</body></html>")
    return page.encode(encoding, errors="strict")
