"""Benchmark of the window's pages: how fast each page a signed-in admin can open answers,
with N cases in the node (default 50,000: about a minute; the issue asks for 100,000, two).

A village node is filled with N cases (the workload of `bench_local`/`bench_sync`), served
by a real `yimen serve` process (plain HTTP on 127.0.0.1), and each page of its menu, plus a
search, one case's page and its receipt, an item's accept form and the admin's pages, is
fetched R times by a signed-in client in this process: server time to the whole page, p50
and p99. With Chromium present (scripts/test installs it)
each page is also opened once in headless Chromium and its first contentful paint read from
the browser's Performance API (target: under 300 ms).

    .venv/bin/python scripts/bench_pages.py --cases 100000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from benchlib import procs, report, workload
from yimen.node import home
from yimen.node.services import clerks

PASSWORD = "Bench-Admin-2026"
TARGETS = report.Targets({"worst_p99_ms": ("<", 300.0, "< 300 ms"), "worst_paint_ms": ("<", 300.0, "< 300 ms")})
ADMIN_PAGES = ["/admin/clerks", "/admin/audit", "/admin/enrollment", "/admin/revoke"]  # beside the menu's
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def fill(folder: Path, n: int) -> str:
    """A village with the sample catalog, clerks and `n` cases; the newest case's id."""
    clock = home.SettableClock(workload.TODAY)
    node = home.init(folder, "440608100201", "基准村党群服务中心", clock=clock)
    try:
        text, _ = workload.catalog_text(30)
        workload.publish_catalog(node, text)
        workload.add_clerks(node)
        clerks.add(node, "a01", "管理员", [*clerks.ROLES], PASSWORD)
        ids = workload.generate(node, clock, n, seed=1, api_n=min(200, n))["ids"]
        return ids[-1]
    finally:
        node.close()


def serve(folder: Path) -> tuple[subprocess.Popen, str]:
    env = {**procs.child_env(), "YIMEN_PLAIN_HTTP": "1"}
    proc = subprocess.Popen([*procs.yimen_cmd(), "--home", str(folder), "serve", "--port", "0", "--no-sync"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    procs.RUNNING.add(proc)
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        raise SystemExit("the node did not start")
    return proc, line.split()[-1]


async def measure(url: str, case_id: str, repeat: int) -> tuple[dict[str, list[float]], str]:
    """Each page's times (seconds), and the session cookie for the browser."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as s:
        async with s.get(f"{url}/signin") as r:
            token = TOKEN.search(await r.text()).group(1)
        async with s.post(f"{url}/signin", data={"csrf_token": token, "clerk_id": "a01", "password": PASSWORD}) as r:
            home_page = await r.text()
        menu = sorted(set(re.findall(r'<nav class="menu">(.*?)</nav>', home_page, re.S)[0].split('href="')[1:]))
        async with s.get(f"{url}/accept") as r:
            item = re.search(r'href="(/accept/[^"]+)"', await r.text()).group(1)
        paths = [m.split('"')[0] for m in menu] + [
            f"/cases/{case_id}", f"/cases?q={case_id}", f"/cases/{case_id}/paper/receipt", item, *ADMIN_PAGES]
        times: dict[str, list[float]] = {}
        for path in paths:
            for _ in range(repeat):
                t0 = time.perf_counter()
                async with s.get(f"{url}{path}", allow_redirects=False) as r:
                    await r.read()
                times.setdefault(f"{path} [{r.status}]", []).append(time.perf_counter() - t0)
        cookies = {m.key: m.value for m in jar}
    return times, cookies


def paints(url: str, paths: list[str], cookies: dict[str, str]) -> dict[str, float]:
    """First contentful paint (ms) of each page in headless Chromium, signed in."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {}
    chromium = shutil.which("chromium")
    if not chromium:
        return {}
    sys.path.insert(0, str(procs.REPO / "tests"))
    from support.browser import ARGS
    out = {}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=ARGS)
        ctx = b.new_context()
        ctx.add_cookies([{"name": k, "value": v, "url": url} for k, v in cookies.items()])
        page = ctx.new_page()
        for path in paths:
            page.goto(f"{url}{path}")
            fcp = page.evaluate("() => (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || 0")
            out[path] = fcp or page.evaluate("() => performance.timing.domContentLoadedEventEnd - performance.timing.navigationStart")
        b.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=20, help="requests per page")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="yimen-bench-pages-"))
    procs.ensure_key_file(tmp)
    os.environ.setdefault("YIMEN_PASSWORD_PROFILE", "cheapest")
    try:
        folder = tmp / "village"
        t0 = time.perf_counter()
        newest = fill(folder, args.cases)
        procs.log(f"filled {args.cases} cases in {time.perf_counter() - t0:.0f} s")
        proc, url = serve(folder)
        times, cookies = asyncio.run(measure(url, newest, args.repeat))
        paint = paints(url, [k.split(" [")[0] for k in times], cookies)
        proc.terminate()
        proc.wait(10)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows, result = [], {"cases": args.cases}
    for key, ts in times.items():
        path = key.split(" [")[0]
        p50, p99 = report.pct(ts, 50) * 1000, report.pct(ts, 99) * 1000
        fcp = paint.get(path)
        rows.append((key, f"p50 {p50:.1f} ms, p99 {p99:.1f} ms" + (f", first paint {fcp:.0f} ms" if fcp else ""), ""))
        result[path] = {"p50_ms": round(p50, 1), "p99_ms": round(p99, 1), "paint_ms": round(fcp or 0, 1)}
    result["worst_p99_ms"] = max(v["p99_ms"] for k, v in result.items() if isinstance(v, dict))
    result["worst_paint_ms"] = max((v["paint_ms"] for k, v in result.items() if isinstance(v, dict)), default=0.0)
    rows += [("worst page p99", f"{result['worst_p99_ms']:.1f} ms", TARGETS.mark("worst_p99_ms", result["worst_p99_ms"])),
             ("worst first paint", f"{result['worst_paint_ms']:.0f} ms", TARGETS.mark("worst_paint_ms", result["worst_paint_ms"]))]
    report.print_table(f"window pages with {args.cases} cases ({args.repeat} requests a page)", rows)
    report.print_final(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
