#!/usr/bin/env python3
"""Drives the sealing page in headless Chromium over WebDriver (chromedriver), for bench/web.sh.

    web_page.py bench       --driver URL --page URL [--items 100] [--runs 5]
    web_page.py screenshots --driver URL --page URL --out DIR

`bench` fills ITEMS key/value rows and presses Seal RUNS times; it prints the time the page
measured for each run (performance.now() around reading the form, sealing every item and
writing the YAML and JSON) and the median. `screenshots` fills a sample form, seals it, and
writes sealing-page-light.png, sealing-page-dark.png (desktop) and sealing-page-phone.png.
Only the standard library: the W3C WebDriver protocol is JSON over HTTP.
"""
import argparse
import base64
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


class Session:
    def __init__(self, driver):
        self.driver = driver.rstrip("/")
        self.profile = profile = tempfile.mkdtemp(prefix="sealkit-chromium-")
        caps = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--no-first-run",
                            "--hide-scrollbars",
                            "--user-data-dir=" + profile,
                        ],
                    },
                }
            }
        }
        self.id = self.call("POST", "/session", caps)["sessionId"]

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.driver + path, data=data, method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.load(resp)["value"]

    def cmd(self, method, path, body=None):
        return self.call(method, f"/session/{self.id}{path}", body)

    def go(self, url):
        self.cmd("POST", "/url", {"url": url})

    def js(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def cdp(self, command, params):
        return self.cmd("POST", "/goog/cdp/execute", {"cmd": command, "params": params})

    def wait(self, script, what, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = self.js(script)
            if value:
                return value
            time.sleep(0.05)
        sys.exit(f"timed out waiting for {what}")

    def quit(self):
        try:
            self.call("DELETE", f"/session/{self.id}")
        except Exception:  # the browser is going away anyway
            pass
        shutil.rmtree(self.profile, ignore_errors=True)


FILL_ROWS = """
const [count, prefix] = arguments;
const set = (el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); };
while (!document.getElementById('key-' + (count - 1))) document.getElementById('add-row').click();
for (let i = 0; i < count; i++) {
  set(document.getElementById('key-' + i), 'item-' + i);
  set(document.getElementById('value-' + i), prefix + '-value-' + i);
}
"""


def ready(s):
    s.wait("return document.body.dataset.ready === 'true' && "
           "document.getElementById('cert-fingerprint').textContent.startsWith('SHA256:')",
           "the page and its certificate")


def seal_and_wait(s):
    s.js("document.getElementById('output').dataset.sealMs = '';"
         "document.getElementById('seal').click();")
    return float(s.wait("return document.getElementById('output').dataset.sealMs || "
                        "(document.getElementById('error').hidden ? '' : 'E')", "the sealed output"))


def bench(s, args):
    s.go(args.page)
    ready(s)
    s.js("document.getElementById('name').value = 'bench';"
         "document.getElementById('namespace').value = 'default';")
    s.js(FILL_ROWS, args.items, "bench")
    key = s.js("return document.getElementById('cert-key').textContent")
    print(f"certificate key: {key}")
    times = []
    for run in range(args.runs):
        ms = seal_and_wait(s)
        items = s.js("return document.getElementById('output').dataset.items")
        print(f"run {run + 1}: sealed {items} items in {ms:.1f} ms")
        times.append(ms)
    print(f"median: {statistics.median(times):.1f} ms for {args.items} items (target < 1000 ms)")


def screenshot(s, path, width):
    metrics = s.cdp("Page.getLayoutMetrics", {})
    height = int(metrics["cssContentSize"]["height"]) + 1
    s.cdp("Emulation.setDeviceMetricsOverride",
          {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
    shot = s.cdp("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    with open(path, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    print(f"wrote {path} ({width}x{height})")


def screenshots(s, args):
    os.makedirs(args.out, exist_ok=True)
    for name, scheme, width in [("light", "light", 1100), ("dark", "dark", 1100), ("phone", "light", 390)]:
        s.cdp("Emulation.setDeviceMetricsOverride",
              {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})
        s.cdp("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
        s.go(args.page)
        ready(s)
        s.js("""
const set = (id, v) => { const el = document.getElementById(id); el.value = v;
  el.dispatchEvent(new Event('input', {bubbles: true})); el.dispatchEvent(new Event('change', {bubbles: true})); };
set('name', 'db-credentials'); set('namespace', 'team-a');
document.getElementById('add-row').click();
set('key-0', 'username'); set('value-0', 'app');
set('key-1', 'password'); set('value-1', 'correct horse battery staple');
document.getElementById('hide-values').click();
document.getElementById('metadata-fields').open = true;
set('labels', 'app.kubernetes.io/name=db');
""")
        seal_and_wait(s)
        if s.js("return !document.getElementById('validate').disabled"):
            s.js("document.getElementById('validate').click()")
            s.wait("return document.getElementById('validate-result').textContent.startsWith('Valid')",
                   "the controller's answer")
        s.js("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);")
        screenshot(s, os.path.join(args.out, f"sealing-page-{name}.png"), width)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["bench", "screenshots"])
    parser.add_argument("--driver", required=True)
    parser.add_argument("--page", required=True)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", default="docs")
    args = parser.parse_args()
    s = Session(args.driver)
    try:
        (bench if args.mode == "bench" else screenshots)(s, args)
    finally:
        s.quit()


if __name__ == "__main__":
    main()
