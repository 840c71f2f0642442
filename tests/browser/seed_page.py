"""The seed's control room, as its page behaves, in a real browser (headless Chromium through
chromedriver, driven by selenium) against flashsale: a page from another origin follows the
seed's stream `GET /stream`, makes a single purchase and bursts of concurrent ones on
`POST /purchase-async`, and counts a success only on status 200 and sold out on 409, as the
seed's page does (README, "Coming from GoFlash"). The page is opened as
http://127.0.0.1:PAGE_PORT and as http://localhost:PAGE_PORT: two origins to the browser, both
of which FLASHSALE_CORS_ORIGINS must allow.

    tests/browser/seed_page.py BASE_URL PAGE_PORT      (ops/clients runs it)

Needs FLASHSALE_ADMIN_TOKEN (the API's): the seed sales are reset to STOCK units first.
Bounded: every wait has a deadline, and the browser and the page's server stop however the test
ends.
"""

import http.server
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

BASE_URL, PAGE_PORT = sys.argv[1], int(sys.argv[2])
TOKEN = os.environ["FLASHSALE_ADMIN_TOKEN"]
STOCK = 60
BURST = 50  # the seed's "Stress Test 50x"

# What the seed's page does, written for this test: the stream, one purchase, a burst by
# Promise.all, outcomes counted by status.
PAGE = """<!doctype html><meta charset="utf-8"><title>seed page</title>
<p>stock <b id="stock">?</b> stream <b id="stream">connecting</b></p>
<p>success <b id="success">0</b> conflicts <b id="conflicts">0</b> other <b id="other">0</b></p>
<script>
const API = new URLSearchParams(location.search).get('api');
const add = (id) => { const el = document.getElementById(id); el.textContent = Number(el.textContent) + 1; };
const events = new EventSource(API + '/stream');
events.onopen = () => { document.getElementById('stream').textContent = 'open'; };
events.onmessage = (e) => { document.getElementById('stock').textContent = Number(JSON.parse(e.data).stock); };
async function buy() {
  let status = 0;
  try { status = (await fetch(API + '/purchase-async', { method: 'POST' })).status; } catch (_) {}
  add(status === 200 ? 'success' : status === 409 ? 'conflicts' : 'other');
  return status;
}
window.single = buy;
window.burst = (n) => Promise.all(Array.from({ length: n }, buy));
</script>
"""


class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_):
        pass


def reset_seed_sales():
    req = urllib.request.Request(BASE_URL + "/reset", data=json.dumps({"stock": STOCK}).encode(),
                                 method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", "Bearer " + TOKEN)
    with urllib.request.urlopen(req, timeout=10) as response:
        assert response.status == 200, response.status


def seed_async_sale():
    """The seed's async sale as the API shows it: what a failed assertion reports."""
    with urllib.request.urlopen(BASE_URL + "/api/v1/sales/seed-async", timeout=10) as response:
        return response.read().decode()


def wait_for(what, check, seconds=15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"the page never showed {what}")


def run(driver, origin, purchases):
    """Opens the page from `origin`; makes `purchases` (a list: 1 for a single purchase, n for
    a burst of n); returns the statuses of each."""
    api = urllib.parse.quote(BASE_URL, safe="")
    driver.get(f"{origin}/?api={api}")
    text = lambda element: driver.find_element(By.ID, element).text
    wait_for(f"the stream open from {origin}", lambda: text("stream") == "open" and text("stock") != "?")
    answers = []
    for n in purchases:
        script = "single()" if n == 1 else f"burst({n})"
        statuses = driver.execute_async_script(f"const done = arguments[0]; {script}.then(done);")
        answers.append(statuses if isinstance(statuses, list) else [statuses])
    return answers, text


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", PAGE_PORT), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="fs-chromium-")
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.set_page_load_timeout(20)
        driver.set_script_timeout(30)
        reset_seed_sales()

        # Opened by address: the stream, one purchase, then two bursts that sell out.
        answers, text = run(driver, f"http://127.0.0.1:{PAGE_PORT}", [1, BURST, BURST])
        statuses = [status for answer in answers for status in answer]
        assert answers[0] == [200], (
            f"the single purchase answered {answers[0]}; the sale now: {seed_async_sale()}")
        assert statuses.count(200) == STOCK, f"{statuses.count(200)} answers were 200, not {STOCK}"
        assert statuses.count(409) == 1 + 2 * BURST - STOCK, statuses
        wait_for("the stock at 0", lambda: text("stock") == "0")
        assert (text("success"), text("other")) == (str(STOCK), "0"), (text("success"), text("other"))
        print(f"seed page: from 127.0.0.1, {STOCK} purchases counted as 200 of {len(statuses)}, "
              f"the rest 409; the stream followed the stock to 0")

        # Opened by name: another origin; the stream and a purchase (sold out) still get through.
        answers, text = run(driver, f"http://localhost:{PAGE_PORT}", [1])
        assert answers == [[409]], f"from localhost the purchase answered {answers}"
        assert text("stock") == "0", text("stock")
        print("seed page: from localhost, the stream and a purchase (409 sold out) got through")
    finally:
        driver.quit()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
