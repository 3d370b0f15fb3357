#!/usr/bin/python3
"""html_browser.py SHOTS_DIR: the --html pages in a real browser (Debian's
chromium, headless, driven by selenium through chromium-driver; offline: every
host name resolves to nothing). For each page: it draws without a console
error, hovering a cell shows the value `--json` prints for it, and the pattern
page enlarges the head clicked. A copy of the pattern page with its script
broken must be caught (so the checks can fail). Screenshots go to SHOTS_DIR.

Run by meson (suite html_browser) with Debian's python3. Exit 77 (skip) when
chromium, chromium-driver or python3-selenium is missing, unless CI=true
(scripts/install-deps installs them)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
except ImportError:
    webdriver = None
if not (CHROMIUM and DRIVER and webdriver):
    print("chromium, chromium-driver or python3-selenium is missing (scripts/install-deps)", file=sys.stderr)
    sys.exit(1 if os.environ.get("CI") == "true" else 77)

BIN = os.environ["CIRCUITC_BIN"]
TOKENS = "511,17,301,99,4,17,301,99"
PAIR = ["--clean-tokens", "511,10,20,30,40,50,10", "--corrupt-tokens", "511,10,20,30,40,60,70",
        "--answer", "#10", "--wrong", "#70"]
failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def circuitc_json(*args):
    r = subprocess.run([BIN, *args, "--json"], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def make_page(path, *args):
    r = subprocess.run([BIN, *args, "--html", path], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"circuitc {' '.join(args)} --html failed: {r.stderr}")


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--host-resolver-rules=MAP * ~NOTFOUND"]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(DRIVER), options=opts)


def open_page(d, path):
    """Loads PATH; the console's errors while it drew."""
    d.get("file://" + os.path.abspath(path))
    return [e["message"] for e in d.get_log("browser") if e["level"] == "SEVERE"]


def drawn(d, name, path, shots):
    errors = open_page(d, path)
    check(not errors, f"{name}: no console error {errors if errors else ''}")
    ready = d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true"
    check(ready, f"{name}: the page drew")
    d.save_screenshot(os.path.join(shots, name + ".png"))
    return ready and not errors


def hover_value(d, cell, key):
    ActionChains(d).move_to_element(cell).perform()
    tip = d.find_element(By.ID, "cc-tip")
    if tip.get_attribute("hidden") is not None:
        return None
    spans = tip.find_elements(By.CSS_SELECTOR, f'.v[data-key="{key}"]')
    return spans[0].text if spans else None


def same_number(text, want):
    return text is not None and (text == "null" and want is None or text != "null" and float(text) == want)


def pattern_page(d, tmp, shots):
    page = os.path.join(tmp, "pattern.html")
    make_page(page, "pattern", "L1H2", "--tokens", TOKENS)
    if not drawn(d, "pattern", page, shots):
        return
    thumbs = d.find_elements(By.CSS_SELECTOR, ".cc-thumb")
    check([t.get_attribute("data-head") for t in thumbs] == ["L1H0", "L1H1", "L1H2", "L1H3"],
          "pattern: a thumbnail per head of layer 1")
    focus = d.find_element(By.ID, "cc-focus")
    check(focus.get_attribute("data-head") == "L1H2", "pattern: the named head is enlarged first")
    body = circuitc_json("pattern", "L1H2", "--tokens", TOKENS)
    want, texts = body["pattern"], body["tokens"]
    got = hover_value(d, focus.find_element(By.CSS_SELECTOR, '.cc-cell[data-row="7"][data-col="4"]'), "weight")
    check(same_number(got, want[7][4]), f"pattern: tooltip weight of L1H2 [7][4] is {got}, --json {want[7][4]}")
    dest = d.find_element(By.CSS_SELECTOR, '#cc-tip .v[data-key="destination"]').text
    src = d.find_element(By.CSS_SELECTOR, '#cc-tip .v[data-key="source"]').text
    shown = [t.replace("\n", "\u21b5").replace("\t", "\u21e5").replace(" ", "\u00b7") for t in texts]  # page.js tok()
    check(dest == f"7 {shown[7]}" and src == f"4 {shown[4]}",
          f"pattern: tooltip tokens are destination {dest!r}, source {src!r}, --json {shown[7]!r}, {shown[4]!r}")
    thumbs[0].click()
    focus = d.find_element(By.ID, "cc-focus")
    check(focus.get_attribute("data-head") == "L1H0", "pattern: clicking L1H0 enlarges it")
    check(len(focus.find_elements(By.CSS_SELECTOR, ".cc-cell")) == 64, "pattern: the enlarged view has 8 x 8 cells")
    want = circuitc_json("pattern", "L1H0", "--tokens", TOKENS)["pattern"]
    got = hover_value(d, focus.find_element(By.CSS_SELECTOR, '.cc-cell[data-row="5"][data-col="2"]'), "weight")
    check(same_number(got, want[5][2]), f"pattern: after the click, L1H0 [5][2] is {got}, --json {want[5][2]}")
    d.save_screenshot(os.path.join(shots, "pattern-L1H0.png"))

    # The same page with its script broken must fail the checks above.
    broken = os.path.join(tmp, "broken.html")
    with open(page) as f, open(broken, "w") as g:
        g.write(f.read().replace("VIEWS[page.view](page.data)", "VIEWS[page.view](page.dta)"))
    errors = open_page(d, broken)
    check(errors and d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") is None,
          "a page with a broken script is caught (console error, not drawn)")


def dla_page(d, tmp, shots):
    args = ["dla", "--tokens", TOKENS, "--answer", "#4", "--wrong", "#250"]
    page = os.path.join(tmp, "dla.html")
    make_page(page, *args)
    if not drawn(d, "dla", page, shots):
        return
    want = circuitc_json(*args)
    got = hover_value(d, d.find_element(By.CSS_SELECTOR, '#cc-heads .cc-cell[data-row="1"][data-col="0"]'), "logit_diff")
    check(same_number(got, want["heads"][1][0]), f"dla: tooltip of L1H0 is {got}, --json {want['heads'][1][0]}")
    at = d.find_element(By.CSS_SELECTOR, ".cc-text .cc-at")
    check(at.get_attribute("data-pos") == str(want["position"]), "dla: the attributed position is marked")


def dla_all_page(d, tmp, shots):
    args = ["dla", "--tokens", TOKENS, "--answer", "#4", "--position", "all"]
    page = os.path.join(tmp, "dla-all.html")
    make_page(page, *args)
    if not drawn(d, "dla-all", page, shots):
        return
    want = circuitc_json(*args)["positions"]
    token = d.find_element(By.CSS_SELECTOR, '.cc-text span[data-pos="5"]')
    got = hover_value(d, token, "sum")
    check(same_number(got, want[5]["sum"]), f"dla all: token 5's tooltip sum is {got}, --json {want[5]['sum']}")
    token.click()
    detail = d.find_element(By.ID, "cc-detail")
    check(detail.get_attribute("data-pos") == "5", "dla all: clicking token 5 shows its parts")
    cell = detail.find_element(By.CSS_SELECTOR, '.cc-cell[data-row="1"][data-col="0"]')
    got = hover_value(d, cell, "logit")
    check(same_number(got, want[5]["heads"][1][0]), f"dla all: position 5's L1H0 is {got}, --json {want[5]['heads'][1][0]}")


def lens_page(d, tmp, shots):
    args = ["lens", "--tokens", TOKENS, "--top", "3"]
    page = os.path.join(tmp, "lens.html")
    make_page(page, *args)
    if not drawn(d, "lens", page, shots):
        return
    want = circuitc_json(*args)["layers"]
    cells = d.find_elements(By.CSS_SELECTOR, ".cc-cell")
    check(len(cells) == len(want) * 8, f"lens: a cell per residual stream and position ({len(cells)})")
    for row, col in [(2, 5), (len(want) - 1, 6), (0, 7)]:
        cell = d.find_element(By.CSS_SELECTOR, f'.cc-cell[data-row="{row}"][data-col="{col}"]')
        got, w = hover_value(d, cell, "prob_next"), want[row]["prob_next"][col]
        check(same_number(got, w), f"lens: {want[row]['label']} position {col}: prob_next {got}, --json {w}")
        top = want[row]["top"][col][0]["token"]
        check(cell.text == top, f"lens: the cell shows the top token {top!r} ({cell.text!r})")


def patch_page(d, tmp, shots):
    args = ["patch", "z", "--per-head", *PAIR]
    page = os.path.join(tmp, "patch.html")
    make_page(page, *args)
    if not drawn(d, "patch", page, shots):
        return
    want = circuitc_json(*args)
    L, P, H = want["shape"]
    check(len(d.find_elements(By.CSS_SELECTOR, ".cc-cell")) == L * P * H, "patch: a cell per head and position")
    for l, p, h in [(1, 6, 0), (2, 5, 3)]:
        cell = d.find_element(By.CSS_SELECTOR, f'.cc-cell[data-row="{l * H + h}"][data-col="{p}"]')
        got, w = hover_value(d, cell, "normalized"), want["normalized"][l][p][h]
        check(same_number(got, w), f"patch: L{l}H{h} position {p}: normalized {got}, --json {w}")
        raw = d.find_element(By.CSS_SELECTOR, '#cc-tip .v[data-key="value"]').text
        check(same_number(raw, want["value"][l][p][h]), f"patch: L{l}H{h} position {p}: value {raw}")


def tables_page(d, tmp, shots, name, args, key, sort_col, rows):
    page = os.path.join(tmp, name + ".html")
    make_page(page, *args)
    if not drawn(d, name, page, shots):
        return
    want = circuitc_json(*args)
    table = d.find_element(By.CSS_SELECTOR, f'table[data-list="{key}"]')
    heads = [th.text for th in table.find_elements(By.TAG_NAME, "th")]
    body = table.find_elements(By.CSS_SELECTOR, "tbody tr")
    check(len(body) == rows, f"{name}: table {key} has {len(body)} rows, want {rows}")
    col = heads.index(sort_col)
    records = want
    for part in key.split("."):
        records = records[part]
    for order in ["largest", "smallest"]:
        table.find_elements(By.TAG_NAME, "th")[col].click()
        got = [float(tr.find_elements(By.TAG_NAME, "td")[col].text)
               for tr in table.find_elements(By.CSS_SELECTOR, "tbody tr")]
        check(got == sorted((r[sort_col] for r in records), reverse=order == "largest"),
              f"{name}: a click on {sort_col} sorts {key} by it, {order} first")


def kcomp_page(d, tmp, shots):
    args = ["kcomp", "L0H0", "L1H0", "--baseline-samples", "5"]
    page = os.path.join(tmp, "kcomp.html")
    make_page(page, *args)
    if not drawn(d, "kcomp", page, shots):
        return
    want = circuitc_json(*args)
    rows = {tr.find_elements(By.TAG_NAME, "td")[0].text: tr.find_elements(By.TAG_NAME, "td")[1].text
            for tr in d.find_elements(By.CSS_SELECTOR, 'table[data-list="summary"] tbody tr')}
    for key in ["composition.score", "rows.top1_accuracy", "frobenius_norm"]:
        part, w = key.split("."), want
        for k in part:
            w = w[k]
        check(same_number(rows.get(key), w), f"kcomp: summary {key} is {rows.get(key)}, --json {w}")


def report_pages(d, tmp, shots):
    out = os.path.join(tmp, "report")
    r = subprocess.run([BIN, "report", "--out", out, "--seq-len", "6"], capture_output=True, text=True)
    check(r.returncode == 0, f"report ran {r.stderr[-300:] if r.returncode else ''}")
    errors = open_page(d, os.path.join(out, "index.html"))
    links = d.find_elements(By.PARTIAL_LINK_TEXT, "interactive page")
    check(not errors and len(links) == 4, f"report: the index links {len(links)} interactive pages")
    names = [a.get_attribute("href").rsplit("/", 1)[-1] for a in links]
    for name in names:
        drawn(d, "report-" + name[:-5], os.path.join(out, name), shots)
    d.get("file://" + os.path.join(out, "index.html"))
    d.find_element(By.PARTIAL_LINK_TEXT, "interactive page: pattern").click()
    check(len(d.find_elements(By.CSS_SELECTOR, ".cc-thumb")) == 4, "report: its pattern link opens the heads' page")


def main():
    shots = sys.argv[1]
    os.makedirs(shots, exist_ok=True)
    d = browser()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for test in [pattern_page, dla_page, dla_all_page, lens_page, patch_page]:
                test(d, tmp, shots)
            tables_page(d, tmp, shots, "comp-scores", ["comp-scores", "--baseline-samples", "5"], "top.k", "score", 10)
            tables_page(d, tmp, shots, "discover", ["discover", "--no-runtime", "--baseline-samples", "5"], "ranking",
                        "ratio_to_baseline", 10)
            tables_page(d, tmp, shots, "atlas", ["atlas", "--min-acc", "0"], "entries", "rows_top1", 48)
            kcomp_page(d, tmp, shots)
            report_pages(d, tmp, shots)
    finally:
        d.quit()
    print(f"{0 if failures else 1} passed, {1 if failures else 0} failed")
    print(f"screenshots in {shots}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
