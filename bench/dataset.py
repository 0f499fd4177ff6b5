"""The benchmark's data set: a hosting server's web content, generated from fixed seeds.

About 1.2 GB in 20,253 files below ``/tmp/havn-bench-data/tree``:

- 20,000 small, compressible text files (HTML, PHP, CSS, JS) of 2-40 KiB in 20 sites;
- 250 "images" of 100 KiB-2 MiB (random bytes: incompressible);
- 3 large files of 150 MiB: an access log (compressible) and two random ones (an archive and a
  video).

Every file's content follows from its index and a seed, so the tree can be rebuilt or put back
exactly. The tree is cached between runs (``VERSION`` holds the parameters and the totals;
anything else there means: generate again). A run changes files in place (``apply_change``)
and puts them back (``restore``) at its start and end.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import string
from dataclasses import dataclass
from pathlib import Path

KiB, MiB = 1024, 1024 * 1024

VERSION = 2
CACHE = Path(os.environ.get("HAVN_BENCH_DATA", "/tmp/havn-bench-data"))  # noqa: S108
SITES = 20
SMALL_FILES, SMALL_MIN, SMALL_MAX = 20_000, 2 * KiB, 40 * KiB
IMAGES, IMAGE_MIN, IMAGE_MAX = 250, 100 * KiB, 2 * MiB
LARGE_SIZE = 150 * MiB
LOG = "shared/logs/access.log"
LARGE = (
    (LOG, "log"),
    ("shared/backups/site-archive.tar.gz", "random"),
    ("shared/media/promo.mp4", "random"),
)
LOG_APPEND = 2 * MiB
PARAMS = {
    "version": VERSION,
    "sites": SITES,
    "small": [SMALL_FILES, SMALL_MIN, SMALL_MAX],
    "images": [IMAGES, IMAGE_MIN, IMAGE_MAX],
    "large": [[path, kind, LARGE_SIZE] for path, kind in LARGE],
}
TOTAL_FILES = SMALL_FILES + IMAGES + len(LARGE)

# Kinds of small files: (share, extension, folder inside a site's public_html).
KINDS = (
    (0.35, "html", "pages"),
    (0.30, "php", "wp-content/plugins"),
    (0.15, "css", "assets/css"),
    (0.20, "js", "assets/js"),
)


@dataclass(frozen=True)
class Change:
    """Files rewritten (or appended to) by one step; ``paths`` relative to the tree."""

    name: str
    paths: tuple[str, ...]
    bytes_after: int  # total size of those files after the change


class Dataset:
    def __init__(self, cache: Path = CACHE):
        self.cache = cache
        self.tree = cache / "tree"
        self.marker = cache / "VERSION"
        self._pools: dict[str, list[str]] | None = None

    # -- layout -------------------------------------------------------------------------------

    def small_path(self, i: int) -> tuple[str, str]:
        """(relative path, kind) of small file ``i``."""
        rng = random.Random(f"path:{i}")
        x, acc, kind = rng.random(), 0.0, KINDS[-1]
        for candidate in KINDS:
            acc += candidate[0]
            if x < acc:
                kind = candidate
                break
        _share, ext, folder = kind
        site, bucket = i % SITES, i // SITES % 12  # about 20 files a folder
        sub = f"{folder}/{_word(random.Random(f'dir:{site}:{ext}:{bucket}'))}"
        if ext == "php":
            sub = f"{folder}/plugin-{bucket:02d}/includes"
        return f"site-{site:02d}/public_html/{sub}/{_word(rng)}-{i}.{ext}", ext

    @staticmethod
    def image_path(j: int) -> str:
        return (
            f"site-{j % SITES:02d}/public_html/uploads/20{20 + j % 5}/{j % 12 + 1:02d}/img-{j}.jpg"
        )

    # -- content ------------------------------------------------------------------------------

    @property
    def pools(self) -> dict[str, list[str]]:
        if self._pools is None:
            self._pools = _line_pools(random.Random(f"pools:{VERSION}"))
        return self._pools

    def small_content(self, i: int, variant: int = 0) -> bytes:
        rng = random.Random(f"small:{VERSION}:{i}:{variant}")
        _, ext = self.small_path(i)
        size = rng.randint(SMALL_MIN, SMALL_MAX)
        pool = self.pools[ext]
        head = {"html": '<!DOCTYPE html>\n<html lang="da">', "php": "<?php"}.get(ext, "")
        parts, got = [head], len(head)
        while got < size:
            lines = rng.choices(pool, k=size // 40 + 8)
            parts += lines
            got += sum(len(line) + 1 for line in lines)
        return "\n".join(parts).encode()[:size]

    @staticmethod
    def image_content(j: int, variant: int = 0) -> bytes:
        rng = random.Random(f"image:{VERSION}:{j}:{variant}")
        size = rng.randint(IMAGE_MIN, IMAGE_MAX)
        return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + rng.randbytes(size - 11)

    # -- building, checking, changing ---------------------------------------------------------

    def ready(self) -> bool:
        try:
            info = json.loads(self.marker.read_text())
        except (OSError, ValueError):
            return False
        return info.get("params") == PARAMS and self.tree.is_dir()

    def info(self) -> dict:
        return json.loads(self.marker.read_text())

    def ensure(self, log=print) -> dict:
        """Build the tree unless the cache holds this version; put back changed files."""
        if self.ready():
            self.restore()
            info = self.info()
            files, size = self.scan()
            if (files, size) == (info["files"], info["bytes"]):
                log(f"data set: cached in {self.tree} ({files} files, {size / 1e9:.2f} GB)")
                return info
            log("data set: cache does not match its VERSION file; generating again")
        shutil.rmtree(self.cache, ignore_errors=True)
        self.tree.mkdir(parents=True)
        log(f"data set: generating into {self.tree} (once; cached for later runs)")
        classes = {"small": [0, 0], "images": [0, 0], "large": [0, 0]}
        for i in range(SMALL_FILES):
            classes["small"][1] += self._write(self.small_path(i)[0], self.small_content(i))
        classes["small"][0] = SMALL_FILES
        for j in range(IMAGES):
            classes["images"][1] += self._write(self.image_path(j), self.image_content(j))
        classes["images"][0] = IMAGES
        for path, kind in LARGE:
            classes["large"][1] += self._write_large(path, kind)
        classes["large"][0] = len(LARGE)
        files, size = self.scan()
        info = {"params": PARAMS, "files": files, "bytes": size, "classes": classes}
        self.marker.write_text(json.dumps(info, indent=1))  # last: a half-built tree is redone
        log(f"data set: {files} files, {size / 1e9:.2f} GB")
        return info

    def scan(self) -> tuple[int, int]:
        files = size = 0
        for folder, _dirs, names in os.walk(self.tree):
            for name in names:
                files += 1
                size += os.lstat(os.path.join(folder, name)).st_size
        return files, size

    def warm(self) -> None:
        """Read every file once, so both tools start from the page cache."""
        buf = bytearray(1 * MiB)
        for folder, _dirs, names in os.walk(self.tree):
            for name in names:
                with open(os.path.join(folder, name), "rb", buffering=0) as f:
                    while f.readinto(buf):
                        pass

    def _change_sets(self) -> tuple[list[int], list[int], list[int]]:
        """(small files of step 1, small files of step 2, images of step 2), disjoint."""
        n1 = round(TOTAL_FILES * 0.01) - 1  # 1 % of the files by count, with the log
        n10 = round(TOTAL_FILES * 0.10) - 1
        images = n10 * IMAGES // TOTAL_FILES
        order = random.Random(f"changes:{VERSION}").sample(range(SMALL_FILES), n1 + n10 - images)
        return order[:n1], order[n1:], random.Random("images").sample(range(IMAGES), images)

    def apply_change(self, step: int) -> Change:
        """Step 1: 1 % of the files (small files rewritten, the log appended to); step 2: 10 %
        (small files and images rewritten, the log appended to again)."""
        small1, small2, images = self._change_sets()
        small = small1 if step == 1 else small2
        paths, size = [], 0
        for i in small:
            path = self.small_path(i)[0]
            size += self._write(path, self.small_content(i, variant=step))
            paths.append(path)
        for j in images if step == 2 else ():
            size += self._write(self.image_path(j), self.image_content(j, variant=step))
            paths.append(self.image_path(j))
        rng = random.Random(f"log-append:{step}")
        with open(self.tree / LOG, "ab") as f:
            f.write(_log_bytes(rng, LOG_APPEND))
        paths.append(LOG)
        size += (self.tree / LOG).stat().st_size
        label = "1 %" if step == 1 else "10 %"
        return Change(f"{label} of the files", tuple(paths), size)

    def restore(self) -> None:
        """Put back every file the change steps touch (content and size; not mtime or inode)."""
        small1, small2, images = self._change_sets()
        for i in small1 + small2:
            self._write(self.small_path(i)[0], self.small_content(i))
        for j in images:
            self._write(self.image_path(j), self.image_content(j))
        log_path = self.tree / LOG
        if log_path.exists() and log_path.stat().st_size != LARGE_SIZE:
            os.truncate(log_path, LARGE_SIZE)

    def _write(self, rel: str, data: bytes) -> int:
        path = self.tree / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:  # in place: same inode, new size and mtime
            f.write(data)
        return len(data)

    def _write_large(self, rel: str, kind: str) -> int:
        path = self.tree / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        rng = random.Random(f"large:{VERSION}:{rel}")
        left = LARGE_SIZE
        with open(path, "wb") as f:
            while left:
                n = min(left, 8 * MiB)
                block = _log_bytes(rng, n) if kind == "log" else rng.randbytes(n)
                f.write(block)
                left -= n
        return LARGE_SIZE


# -- text generators ---------------------------------------------------------------------------

_LETTERS = string.ascii_lowercase


def _word(rng: random.Random) -> str:
    return "".join(rng.choices(_LETTERS, k=rng.randint(3, 9)))


_COMMON = [
    "wp",
    "content",
    "post",
    "page",
    "menu",
    "item",
    "header",
    "footer",
    "nav",
    "main",
    "widget",
    "sidebar",
    "title",
    "entry",
    "meta",
    "author",
    "date",
    "category",
    "tag",
    "comment",
    "reply",
    "form",
    "input",
    "button",
    "submit",
    "search",
    "container",
    "row",
    "col",
    "image",
    "gallery",
    "slider",
    "product",
    "cart",
    "price",
    "order",
    "customer",
    "account",
    "login",
    "logout",
    "admin",
    "theme",
    "plugin",
    "option",
    "setting",
    "value",
    "default",
    "array",
    "string",
    "return",
    "function",
    "class",
    "public",
    "private",
    "static",
    "const",
    "var",
    "let",
    "this",
    "null",
    "true",
    "false",
    "data",
    "type",
    "name",
    "id",
    "url",
    "link",
    "href",
    "src",
    "alt",
    "style",
]


def _line_pools(rng: random.Random) -> dict[str, list[str]]:
    """Distinct source lines per kind; files are random draws of them (zstd-3: roughly 3-4x)."""
    vocab = _COMMON * 6 + [_word(rng) for _ in range(2500)]

    def w() -> str:
        return rng.choice(vocab)

    def n() -> int:
        return rng.randint(0, 1200)

    def sentence() -> str:
        return " ".join(rng.choices(vocab, k=rng.randint(4, 14))).capitalize()

    def ind() -> str:
        return " " * (2 * rng.randint(0, 5))

    html = (
        lambda: f'{ind()}<div class="{w()} {w()}-{w()}" id="{w()}-{n()}">',
        lambda: f"{ind()}<p>{sentence()}.</p>",
        lambda: f'{ind()}<a href="/{w()}/{w()}-{n()}.html" title="{w()}">{sentence()}</a>',
        lambda: f'{ind()}<li class="menu-item menu-item-{n()}"><a href="/{w()}/">{w()}</a></li>',
        lambda: (
            f'{ind()}<img src="/uploads/2024/{n() % 12 + 1:02d}/{w()}-{n()}.jpg" '
            f'alt="{sentence()}" width="{n()}" height="{n()}">'
        ),
        lambda: f"{ind()}</div>",
        lambda: f'{ind()}<span class="{w()}">{w()} {w()}</span>',
    )
    php = (
        lambda: f"{ind()}${w()} = ${w()}->get_{w()}('{w()}', {n()});",
        lambda: f"{ind()}if (isset(${w()}['{w()}'])) {{",
        lambda: f"{ind()}return apply_filters('{w()}_{w()}', ${w()});",
        lambda: f"{ind()}// {sentence()}",
        lambda: f"{ind()}function {w()}_{w()}(${w()}, ${w()} = null) {{",
        lambda: f"{ind()}echo esc_html__('{sentence()}', '{w()}');",
        lambda: f"{ind()}}}",
    )
    css = (
        lambda: f".{w()}-{w()} .{w()} {{",
        lambda: f"  margin: {n() % 64}px {n() % 64}px;",
        lambda: f"  color: #{rng.randrange(16**6):06x};",
        lambda: f"  font: {n() % 40 + 8}px/1.{n() % 9} {w()}, sans-serif;",
        lambda: "}",
        lambda: f"@media (max-width: {n() + 320}px) {{",
        lambda: f"  background: url(../img/{w()}-{n()}.png) no-repeat;",
    )
    js = (
        lambda: f"{ind()}function {w()}{w().capitalize()}({w()}, {w()}) {{",
        lambda: f"{ind()}var {w()} = document.querySelector('.{w()}-{w()}');",
        lambda: f"{ind()}if ({w()}.{w()} === '{w()}') {{ return {n()}; }}",
        lambda: f"{ind()}{w()}.addEventListener('click', function (e) {{ {w()}(e, {n()}); }});",
        lambda: f"{ind()}}}",
        lambda: f"{ind()}// {sentence()}",
    )
    pools = {}
    for kind, makers in (("html", html), ("php", php), ("css", css), ("js", js)):
        pools[kind] = [rng.choice(makers)() for _ in range(6000)]
    return pools


_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl/7.88.1",
)


def _log_bytes(rng: random.Random, size: int) -> bytes:
    """``size`` bytes of combined-format access log lines (cut at ``size``)."""
    paths = [f"/{_word(rng)}/{_word(rng)}-{rng.randint(1, 999)}.html" for _ in range(3000)]
    paths += ["/", "/wp-login.php", "/xmlrpc.php", "/wp-admin/admin-ajax.php", "/favicon.ico"]
    ips = [
        f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        for _ in range(5000)
    ]
    out, got, t = [], 0, rng.randint(1_700_000_000, 1_720_000_000)
    while got < size:
        k = 20_000
        lines = [
            f'{ip} - - [{t + s}] "GET {p} HTTP/1.1" {st} {rng.randint(200, 90_000)} "-" "{ua}"\n'
            for ip, p, st, ua, s in zip(
                rng.choices(ips, k=k),
                rng.choices(paths, k=k),
                rng.choices((200, 200, 200, 304, 301, 404, 500), k=k),
                rng.choices(_AGENTS, k=k),
                range(k),
                strict=True,
            )
        ]
        t += k
        block = "".join(lines).encode()
        out.append(block)
        got += len(block)
    return b"".join(out)[:size]
