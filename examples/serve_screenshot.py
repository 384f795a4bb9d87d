"""Screenshot of `twincore serve`'s page (docs/img/serve.png): serve a run folder, open the
page in headless chromium (Debian's, through its chromedriver), upload a Fashion-MNIST test
item made to look like a product photo (dark on white, larger), and save the window.

    PYTHONPATH=src python examples/serve_screenshot.py RUN_DIR [--out docs/img/serve.png] [--index 0]
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from twincore import data as tcdata
from twincore.serve.loadtest import start_server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--out", default="docs/img/serve.png")
    ap.add_argument("--index", type=int, default=0, help="which test image to upload")
    ap.add_argument("--size", default="1200,720", help="window size W,H")
    args = ap.parse_args()
    ds = tcdata.load()
    item = 255 - ds.x_test[args.index]  # dark on white, as a catalogue photo
    photo = Image.fromarray(item).resize((196, 196), Image.Resampling.BICUBIC).convert("RGB")
    path = os.path.join(tempfile.mkdtemp(), f"{ds.classes[ds.y_test[args.index]].replace('/', '-')}.png")
    photo.save(path)
    server = start_server(args.run)
    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              f"--window-size={args.size}", "--hide-scrollbars"):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        d.get(server.url)
        wait = WebDriverWait(d, 30)
        wait.until(lambda d: "parameters" in d.find_element(By.ID, "model-line").text)
        d.find_element(By.ID, "file").send_keys(path)
        wait.until(lambda d: d.find_element(By.ID, "top-class").text)
        print(f"uploaded {os.path.basename(path)}: top class {d.find_element(By.ID, 'top-class').text} "
              f"{d.find_element(By.ID, 'top-prob').text}")
        d.save_screenshot(args.out)
        print(f"wrote {args.out}")
    finally:
        d.quit()
        server.stop()


if __name__ == "__main__":
    main()
