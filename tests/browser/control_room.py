"""The control room in a real browser (headless Chromium through chromedriver, driven by
selenium): while a crowd buys, the page's stock falls to 0 and it shows sold out; the admin
form restocks the sale and the page shows the new round. Saves a screenshot.

    tests/browser/control_room.py BASE_URL OUT_DIR      (ops/clients runs it)

Needs FLASHSALE_ADMIN_TOKEN (the API's). Bounded: the crowd stops at sold out or after
MAX_REQUESTS, every wait has a deadline, and the browser is closed however the test ends.
"""

import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

BASE_URL, OUT_DIR = sys.argv[1], sys.argv[2]
TOKEN = os.environ["FLASHSALE_ADMIN_TOKEN"]
SALE = "browser-" + uuid.uuid4().hex[:8]
STOCK = 400
CROWD = 8  # buyers at once
MAX_REQUESTS = 4000
SCREENSHOT = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "control-room.png")


def request(method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE_URL + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def crowd(sale, sent, stop):
    """Buys until sold out (or the bound): each request a new buyer."""
    while not stop.is_set():
        with sent["lock"]:
            if sent["n"] >= MAX_REQUESTS:
                return
            sent["n"] += 1
        status, body = request("POST", f"/api/v1/sales/{sale}/purchases", {"user_id": uuid.uuid4().hex})
        if status == 409 and body.get("error") == "sold_out":
            return
        if status >= 500:
            sent["errors"].append(body)
        time.sleep(0.01)  # a crowd, spread over a few seconds the page can be seen selling


def wait_for(what, check, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # an element being re-rendered; look again
            pass
        time.sleep(0.1)
    raise AssertionError(f"the page never showed {what}")


def main():
    status, _ = request("PUT", f"/api/v1/admin/sales/{SALE}",
                        {"name": "Browser test: phones", "stock": STOCK, "strategy": "async"}, TOKEN)
    assert status in (200, 201), status

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="fs-chromium-")
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1400,900"]:
        options.add_argument(flag)
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.set_page_load_timeout(20)
        driver.get(BASE_URL + "/control-room")
        card = f'[data-sale="{SALE}"]'
        text = lambda sel: driver.find_element(By.CSS_SELECTOR, f"{card} {sel}").text
        wait_for("the sale", lambda: text(".remaining") == str(STOCK))

        sent = {"n": 0, "lock": threading.Lock(), "errors": []}
        stop = threading.Event()
        buyers = [threading.Thread(target=crowd, args=(SALE, sent, stop)) for _ in range(CROWD)]
        for buyer in buyers:
            buyer.start()
        try:
            # The stock is seen falling, from the stream, before it reaches 0.
            seen = set()
            def falling():
                seen.add(int(text(".remaining")))
                return len(seen - {STOCK, 0}) >= 3
            wait_for("the stock falling", falling)
            wait_for("the sale sold out", lambda: text(".remaining") == "0" and text(".status") == "sold out")
        finally:
            stop.set()
            for buyer in buyers:
                buyer.join(timeout=15)
        assert not sent["errors"], sent["errors"][:3]
        print(f"browser: {sent['n']} purchase requests; the page showed {len(seen)} stock figures on the way to 0")
        wait_for("the rates", lambda: int(driver.find_element(
            By.CSS_SELECTOR, '[data-outcome="reserved"] b').text) >= 0)

        # The admin form: type the token, restock with 250, see round 2.
        driver.find_element(By.ID, "token").send_keys(TOKEN)
        driver.find_element(By.ID, "use-token").click()
        driver.find_element(By.CSS_SELECTOR, f"{card} .new-stock").send_keys("250")
        driver.find_element(By.CSS_SELECTOR, f"{card} .restock").click()
        wait_for("the new round", lambda: "round 2" in text(".id") and text(".remaining") == "250"
                 and text(".status") == "active", seconds=15)
        assert TOKEN not in driver.page_source, "the token must not be written into the page"
        # A few buyers of the new round, so the picture shows a sale selling.
        for _ in range(40):
            request("POST", f"/api/v1/sales/{SALE}/purchases", {"user_id": uuid.uuid4().hex})
        wait_for("the new round selling", lambda: text(".remaining") == "210", seconds=15)
        time.sleep(1.2)  # one more poll, so the pipeline figures are fresh in the picture
        os.makedirs(OUT_DIR, exist_ok=True)
        driver.save_screenshot(os.path.join(OUT_DIR, "control-room.png"))
        if os.environ.get("UPDATE_SCREENSHOT"):
            driver.save_screenshot(SCREENSHOT)
        print(f"browser: sold out seen, restocked through the admin form (round 2); screenshot in {OUT_DIR}")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
