"""Text benchmark: recall on pirated chapters, false hits on unrelated pages, pages per second.

Run from the repository root after ``make bench-setup`` (it fetches the Chinese poetry
corpus with npm)::

    .venv/bin/python bench/text.py [--books 500] [--negatives 10000]

Registers ``--books`` Chinese and ``--books`` English books (see :mod:`bench.textcorpus`)
as ``swordnet works add --kind text`` does, then matches, as crawled HTML pages:

* one pirated chapter per book: 20% of its sentences replaced by ads, paragraphs
  reordered, whitespace and punctuation changed, inside a page with navigation, a sidebar,
  comments and a footer; half of the Chinese ones converted to simplified characters with
  OpenCC's phrase-level converter (the books are in traditional characters);
* ``--negatives`` unrelated pages (English up to half, Chinese the rest), same layout.

One process does everything, so pages per second is per core. Prints a table and writes
``bench/results/text.json``.
"""

from __future__ import annotations

import argparse
import html
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opencc import OpenCC  # noqa: E402

from bench.report import write_results  # noqa: E402
from bench.textcorpus import Book, build  # noqa: E402
from matching.match_index import MatchIndex  # noqa: E402
from matching.text import MIN_FINGERPRINTS, MIN_MATCHED, TextSignal, shingles  # noqa: E402
from matching.textdoc import read_document  # noqa: E402
from matching.textnorm import shingle_text  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "text.json"
ADS = ["澳門首家線上賭場上線啦，註冊即送八十八元彩金！", "点击下载本站APP，看小说永久免费无广告。",
       "Hot singles in your area are waiting. Click now!", "Casino bonus: 200 free spins today.",
       "全场VPN一折起，限时抢购中。", "Buy cheap replica watches, free shipping worldwide."]


def sentences(paragraph: str) -> list[str]:
    out, current = [], ""
    for char in paragraph:
        current += char
        if char in "。！？；.!?;":
            out.append(current)
            current = ""
    if current.strip():
        out.append(current)
    return out


def pirate(paragraphs: list[str], rnd: random.Random, *, simplify: OpenCC | None) -> list[str]:
    """Reordered paragraphs, 20% of sentences replaced by ads, spacing and punctuation
    changed, optionally converted to simplified characters."""
    shown = paragraphs[:]
    rnd.shuffle(shown)
    out = []
    for paragraph in shown:
        kept = [rnd.choice(ADS) if rnd.random() < 0.2 else s for s in sentences(paragraph)]
        text = "  ".join(kept).replace("，", " , ").replace(", ", "，").replace("　", "  ")
        out.append(simplify.convert(text) if simplify else text)
    return out


def page(title: str, paragraphs: list[str], rnd: random.Random) -> bytes:
    nav = "".join(f'<li><a href="/c/{n}.html">第{n}章</a></li>' for n in range(1, 40))
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    comments = "".join(f'<div class="comment"><p>{html.escape(rnd.choice(ADS))}</p></div>'
                       for _ in range(3))
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}'
            f'</title></head><body><ul class="nav">{nav}</ul><h1>{html.escape(title)}</h1>'
            f'<div id="content">{body}</div><aside class="sidebar">热门小说 排行榜 {rnd.random()}'
            f'</aside><div class="comments">{comments}</div><footer>Copyright 2026 盗版小说网 '
            f"All rights reserved.</footer></body></html>").encode()


def register(books: list[Book]) -> tuple[MatchIndex, float, int]:
    index = MatchIndex()
    started = time.perf_counter()
    chars = 0
    for work_id, book in enumerate(books, start=1):
        text = book.text()
        chars += len(text)
        index.add(work_id, work_id, "text", TextSignal.fingerprint(text.encode()))
    return index, time.perf_counter() - started, chars


def match_all(index: MatchIndex, pages: list[bytes]) -> tuple[list[list], float, float]:
    """Matches per page (with threshold 0, to see how close misses come), the seconds spent
    extracting main text from the HTML and the seconds fingerprinting and matching it."""
    started = time.perf_counter()
    texts = [read_document(content).text for content in pages]
    extraction = time.perf_counter() - started
    found = []
    started = time.perf_counter()
    for text in texts:
        query = shingles(shingle_text(text))
        found.append(index.match("text", query, limit=0.0) if len(query) >= MIN_FINGERPRINTS
                     else [])
    return found, extraction, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--books", type=int, default=500, help="books per language")
    parser.add_argument("--negatives", type=int, default=10000, help="unrelated pages")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rnd = random.Random(args.seed)
    simplify = OpenCC("t2s")

    print("Building the corpus ...", flush=True)
    books, negatives, dropped = build(args.books, args.negatives, args.seed)
    index, register_s, register_chars = register(books)
    threshold = TextSignal.default_threshold

    positives: list[tuple[int, str, str, bytes]] = []  # work id, language, variant, page
    for work_id, book in enumerate(books, start=1):
        heading, paragraphs = rnd.choice(book.chapters)
        convert = book.language == "zh" and work_id % 2 == 0
        variant = "simplified" if convert else "same script"
        positives.append((work_id, book.language, variant,
                          page(heading, pirate(paragraphs, rnd, simplify=simplify if convert
                                                  else None), rnd)))
    negative_pages = [(language, page("Chapter", pirate(paragraphs, rnd, simplify=None), rnd))
                      for language, paragraphs in negatives]

    pos_found, pos_extract_s, pos_s = match_all(index, [p[3] for p in positives])
    neg_found, neg_extract_s, neg_s = match_all(index, [p[1] for p in negative_pages])

    groups: dict[str, dict[str, float]] = {}
    scores: list[float] = []
    for (work_id, language, variant, _), matches in zip(positives, pos_found, strict=True):
        group = groups.setdefault(f"{language} {variant}", {"pages": 0, "found": 0, "wrong": 0})
        group["pages"] += 1
        best = {m.work_id: m.score for m in matches}
        scores.append(best.get(work_id, 0.0))
        group["found"] += best.get(work_id, 0.0) >= threshold
        group["wrong"] += any(w != work_id and s >= threshold for w, s in best.items())
    negative_scores = [max((m.score for m in matches), default=0.0) for matches in neg_found]
    false_hits = sum(s >= threshold for s in negative_scores)
    by_language = {lang: [s for (l2, _), s in zip(negative_pages, negative_scores, strict=True)
                          if l2 == lang] for lang in ("zh", "en")}
    false_by_language = {lang: sum(s >= threshold for s in found)
                         for lang, found in by_language.items()}
    max_by_language = {lang: round(max(found, default=0.0), 4)
                       for lang, found in by_language.items()}
    pages = len(positives) + len(negative_pages)
    seconds = pos_s + neg_s
    extraction = pos_extract_s + neg_extract_s
    recall = sum(g["found"] for g in groups.values()) / len(positives)

    print(f"\n{len(books)} books registered ({register_chars / 1e6:.1f}M characters, "
          f"{len(index)} fingerprint entries) in {register_s:.1f} s")
    print(f"{'pirated chapters':<26}{'pages':>7}{'found':>7}{'recall':>9}{'wrong work':>12}")
    for name, group in sorted(groups.items()):
        print(f"{name:<26}{group['pages']:>7.0f}{group['found']:>7.0f}"
              f"{group['found'] / group['pages']:>9.1%}{group['wrong']:>12.0f}")
    print(f"{'all':<26}{len(positives):>7}{recall * len(positives):>7.0f}{recall:>9.1%}")
    print(f"\nunrelated pages: {len(negative_pages)} "
          f"({sum(lang == 'zh' for lang, _ in negative_pages)} Chinese), false hits: "
          f"{false_hits} (Chinese {false_by_language['zh']}, English "
          f"{false_by_language['en']}); {dropped} near-repeat paragraphs left out of the "
          f"corpus")
    print(f"containment at threshold {threshold}: true copies min {min(scores):.3f}, "
          f"5th percentile {statistics.quantiles(scores, n=20)[0]:.3f}; unrelated max "
          f"{max(negative_scores):.3f} (Chinese {max_by_language['zh']:.3f}, English "
          f"{max_by_language['en']:.3f}; a match needs {MIN_MATCHED}+ fingerprints in one "
          f"stretch)")
    print(f"\nthroughput, one process: {pages / seconds:.0f} pages/s fingerprinted and "
          f"matched ({seconds / pages * 1000:.2f} ms/page); with main-text extraction from "
          f"the HTML first ({extraction / pages * 1000:.2f} ms/page, trafilatura): "
          f"{pages / (seconds + extraction):.0f} pages/s")

    write_results(RESULTS, {
        "books": len(books), "books_chinese": sum(b.language == "zh" for b in books),
        "registered_characters": register_chars, "register_seconds": round(register_s, 2),
        "threshold": threshold, "groups": groups, "recall": round(recall, 4),
        "positives": len(positives), "negatives": len(negative_pages),
        "false_hits": false_hits, "false_hits_by_language": false_by_language,
        "near_repeat_paragraphs_dropped": dropped,
        "true_containment_min": round(min(scores), 4),
        "unrelated_containment_max": round(max(negative_scores), 4),
        "unrelated_containment_max_by_language": max_by_language,
        "pages_per_second_fingerprint_and_match": round(pages / seconds, 1),
        "pages_per_second_with_extraction": round(pages / (seconds + extraction), 1),
        "ms_per_page_fingerprint_and_match": round(seconds / pages * 1000, 3),
        "ms_per_page_extraction": round(extraction / pages * 1000, 3),
    })


if __name__ == "__main__":
    main()
