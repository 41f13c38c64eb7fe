"""The admin console in real headless Chromium (Debian's `chromium` and `chromium-driver`).

Open the console, open a queue, run a task, see it disappear, view the entity it changed, and check
that a stored `<script>` is shown as text (and never runs).
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
XSS = "<script>alert(1)</script>"

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[test])")
if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
    pytest.skip("headless Chromium needs /usr/bin/chromium and /usr/bin/chromedriver "
                "(apt-get install -y chromium chromium-driver)", allow_module_level=True)

from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator["webdriver.Chrome"]:
    profile = tempfile.mkdtemp(prefix="gae-emu-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def gone(element: WebElement):
    """A wait condition: `element` left the document. Chromium reports a replaced page's node as
    stale, or (mid-navigation) as 'does not belong to the document'; both mean gone."""
    def check(driver: "webdriver.Chrome") -> bool:
        try:
            return expected_conditions.staleness_of(element)(driver)
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return True
            raise
    return check


def click(driver: "webdriver.Chrome", element: WebElement) -> None:
    """Click a link or submit button and wait until the next page has replaced this one."""
    page = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 15).until(gone(page))
    WebDriverWait(driver, 15).until(lambda d: d.execute_script("return document.readyState") == "complete")


def no_alert(driver: "webdriver.Chrome") -> bool:
    try:
        driver.switch_to.alert
    except Exception:
        return True
    return False


def test_run_a_task_from_the_console_and_view_the_entity(paused, browser):
    paused.client.get("/seed")
    task = paused.client.get("/defer?name=browsed&amount=3").json()["task"]
    paused.client.get("/defer?name=browsed&amount=100&queue=later&countdown=3600")

    browser.get(paused.admin_url + "/")
    assert browser.title.startswith("Task queues")
    click(browser, browser.find_element(By.CSS_SELECTOR, "#queue-default a.queue"))
    assert browser.title.startswith("Queue default")
    row = browser.find_element(By.ID, f"task-{task}")
    assert "admin_test_main.increment('browsed', 3" in row.find_element(By.CSS_SELECTOR, "code.deferred").text

    click(browser, row.find_element(By.CSS_SELECTOR, "button.run"))
    assert browser.title.startswith("Queue default")
    assert f"Task {task} ran: HTTP 200" in browser.find_element(By.CSS_SELECTOR, ".msg").text
    assert not browser.find_elements(By.ID, f"task-{task}")  # gone from the queue
    assert paused.tasks("default") == [] and len(paused.tasks("later")) == 1

    click(browser, browser.find_element(By.LINK_TEXT, "Datastore"))
    click(browser, browser.find_element(By.LINK_TEXT, "Counter"))
    click(browser, browser.find_element(By.LINK_TEXT, "browsed"))
    assert browser.title.startswith("Entity Counter")
    assert "3" in [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "code.value")]

    # The stored markup is text on the page, not an element, and nothing ran.
    click(browser, browser.find_element(By.LINK_TEXT, "Back to the kind"))
    click(browser, browser.find_element(By.LINK_TEXT, "shown"))
    assert XSS in [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "code.value")]
    assert not browser.find_elements(By.CSS_SELECTOR, "main script")
    assert no_alert(browser)


def test_edit_an_entity_in_the_form(paused, browser):
    paused.client.get("/seed")
    browser.get(paused.admin_url + "/datastore?kind=Counter")
    click(browser, browser.find_element(By.LINK_TEXT, "shown"))
    field = browser.find_element(By.NAME, "value.count")
    field.clear()
    field.send_keys("12")
    click(browser, browser.find_element(By.CSS_SELECTOR, "button.save"))
    assert "Entity saved." in browser.find_element(By.CSS_SELECTOR, ".msg").text
    assert paused.client.get("/count?name=shown").json() == {"count": 12, "label": XSS}


def test_purge_delete_and_reset_ask_first(paused, browser):
    """Each destructive button leads to a confirmation page (a server round trip); Cancel changes
    nothing, the confirmation's own button (with the CSRF token) does it."""
    first = paused.client.get("/defer?name=a&amount=1").json()["task"]
    paused.client.get("/defer?name=b&amount=1")
    paused.client.get("/seed")
    browser.get(paused.admin_url + "/queues/default")

    click(browser, browser.find_element(By.CSS_SELECTOR, f"#task-{first} button.delete"))
    assert browser.title.startswith("Confirm")
    assert f"Delete task {first} of queue default?" in browser.find_element(By.CSS_SELECTOR, ".confirm-question").text
    click(browser, browser.find_element(By.CSS_SELECTOR, "a.cancel"))
    assert browser.title.startswith("Queue default") and len(paused.tasks("default")) == 2
    click(browser, browser.find_element(By.CSS_SELECTOR, f"#task-{first} button.delete"))
    click(browser, browser.find_element(By.CSS_SELECTOR, "button.confirm"))
    assert f"Task {first} deleted." in browser.find_element(By.CSS_SELECTOR, ".msg").text
    assert [t.name for t in paused.tasks("default")] != [first] and len(paused.tasks("default")) == 1

    click(browser, browser.find_element(By.CSS_SELECTOR, "button.purge"))
    assert "Purge queue default?" in browser.find_element(By.CSS_SELECTOR, ".confirm-question").text
    assert "1 task(s)" in browser.find_element(By.TAG_NAME, "main").text
    assert len(paused.tasks("default")) == 1  # asking changed nothing
    click(browser, browser.find_element(By.CSS_SELECTOR, "button.confirm"))
    assert "Purged 1 task(s)" in browser.find_element(By.CSS_SELECTOR, ".msg").text
    assert paused.tasks("default") == []

    browser.get(paused.admin_url + "/queues")
    click(browser, browser.find_element(By.XPATH, "//button[text()='Reset everything']"))
    assert "Reset everything?" in browser.find_element(By.CSS_SELECTOR, ".confirm-question").text
    assert paused.client.get("/count?name=shown").json()["count"] == 7
    click(browser, browser.find_element(By.CSS_SELECTOR, "button.confirm"))
    assert "emptied" in browser.find_element(By.CSS_SELECTOR, ".msg").text
    assert paused.client.get("/count?name=shown").json()["count"] is None  # the entity is gone


MAIL_APP = Path(__file__).resolve().parents[1] / "integration" / "apps" / "mailapp"


@pytest.fixture(scope="module")
def mail_server():
    pytest.importorskip("google.appengine.api", reason="appengine-python-standard is not installed")
    from gae_emu.testing import emulator

    with emulator(MAIL_APP / "app.yaml") as handle:
        yield handle


def test_mail_page_shows_sent_mail_escaped_and_delivers_inbound_mail(mail_server, browser):
    boundary = "b0undary"
    body = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{n}"\r\n\r\n{v}\r\n' for n, v in [
        ("sender", "app@example.com"), ("to", "reader@example.com"), ("subject", "Browsed mail"),
        ("body", "text body"), ("html", XSS)])
    body += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nA\r\n--{boundary}--\r\n'
    sent = mail_server.client.post("/send", data=body.encode(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert sent.status == 200, sent.text

    browser.get(mail_server.admin_url + "/")
    click(browser, browser.find_element(By.LINK_TEXT, "Mail"))
    assert browser.title.startswith("Mail")
    click(browser, browser.find_element(By.CSS_SELECTOR, "a.mail"))
    assert browser.title.startswith("Mail #1: Browsed mail")
    assert browser.find_element(By.CSS_SELECTOR, "pre.html-body").text == XSS
    assert browser.find_element(By.CSS_SELECTOR, "a.attachment").text == "a.txt"
    assert not browser.find_elements(By.CSS_SELECTOR, "main script")
    assert no_alert(browser)

    click(browser, browser.find_element(By.LINK_TEXT, "Back to the list"))
    browser.find_element(By.NAME, "to").send_keys("help@app.appspotmail.com")
    browser.find_element(By.NAME, "subject").send_keys("From the console")
    browser.find_element(By.NAME, "body").send_keys("hello app")
    click(browser, browser.find_element(By.CSS_SELECTOR, "form.deliver button"))
    assert "Delivered to /_ah/mail/help@app.appspotmail.com: HTTP 200." in browser.find_element(By.CSS_SELECTOR, ".msg").text
    received = mail_server.client.get("/received").json()
    assert received[-1]["subject"] == "From the console" and received[-1]["text"] == ["hello app"]


BLOB_APP = Path(__file__).resolve().parents[1] / "integration" / "apps" / "blobapp"


def test_blobstore_page_lists_escaped_names_and_deletes(browser, tmp_path):
    pytest.importorskip("google.appengine.api", reason="appengine-python-standard is not installed")
    from urllib.parse import urlsplit

    from gae_emu.testing import emulator

    with emulator(BLOB_APP / "app.yaml", storage_path=tmp_path / "s") as handle:
        upload_url = handle.client.get("/upload-url").text
        boundary = "b0undary"
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="f"; filename="{XSS}.html"\r\n'
                f"Content-Type: text/html\r\n\r\n<p>hi</p>\r\n--{boundary}--\r\n").encode()
        stored = handle.client.post(urlsplit(upload_url).path, data=body,
                                    headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert stored.status == 200, stored.text
        key = stored.json()["blobs"][0]["key"]

        browser.get(handle.admin_url + "/")
        click(browser, browser.find_element(By.LINK_TEXT, "Blobstore"))
        assert browser.title.startswith("Blobstore")
        row = browser.find_element(By.ID, f"blob-{key}")
        assert XSS + ".html" in row.text and "text/html" in row.text
        assert row.find_element(By.CSS_SELECTOR, "a.download").get_attribute("href").endswith(f"/blobstore/{key}/download")
        assert not browser.find_elements(By.CSS_SELECTOR, "main script") and no_alert(browser)
        click(browser, row.find_element(By.CSS_SELECTOR, "button.delete"))
        assert "deleted" in browser.find_element(By.CSS_SELECTOR, ".msg").text
        assert not browser.find_elements(By.ID, f"blob-{key}")
        assert handle.client.get(f"/info/{key}").json() == {"found": False}


def test_instances_page_lists_the_instance_and_restarts_it(mail_server, browser):
    """Issue 11: the console's Instances page shows a python3 service's instance and its Restart
    button (a CSRF-protected form) starts a new process."""
    assert mail_server.client.get("/").status in (200, 404)
    browser.get(mail_server.admin_url + "/")
    click(browser, browser.find_element(By.LINK_TEXT, "Instances"))
    assert browser.title.startswith("Instances")
    row = browser.find_element(By.ID, "instance-default")
    cells = row.find_elements(By.TAG_NAME, "td")
    old_pid = cells[1].text
    assert old_pid.isdigit() and cells[3].text == "ready"
    click(browser, row.find_element(By.CSS_SELECTOR, "button"))
    assert "Restarting the instance of service default." in browser.find_element(By.CSS_SELECTOR, ".msg").text
    assert mail_server.client.get("/").status in (200, 404)  # waits for the new instance
    browser.get(mail_server.admin_url + "/instances")
    cells = browser.find_element(By.ID, "instance-default").find_elements(By.TAG_NAME, "td")
    assert cells[1].text.isdigit() and cells[1].text != old_pid and cells[3].text == "ready"


STD_APP = Path(__file__).resolve().parents[1] / "integration" / "apps" / "console" / "std"


def test_memcache_page_looks_up_sets_and_flushes(browser):
    pytest.importorskip("google.appengine.api", reason="appengine-python-standard is not installed")
    from gae_emu.testing import emulator

    with emulator(STD_APP, args=["--no-enable-task-running"]) as emu:
        emu.client.get("/memcache-seed")
        browser.get(emu.admin_url + "/")
        click(browser, browser.find_element(By.LINK_TEXT, "Memcache"))
        assert browser.title.startswith("Memcache")
        browser.find_element(By.CSS_SELECTOR, "form.lookup input[name=key]").send_keys("greeting")
        click(browser, browser.find_element(By.CSS_SELECTOR, "form.lookup button"))
        assert browser.find_element(By.CSS_SELECTOR, "p.hit code.value").text == "'hello <b>'"
        assert not browser.find_elements(By.CSS_SELECTOR, "main b")  # shown as text

        form = browser.find_element(By.CSS_SELECTOR, "form.set")
        form.find_element(By.NAME, "key").send_keys("from-console")
        form.find_element(By.NAME, "value").send_keys("hi there")
        click(browser, form.find_element(By.CSS_SELECTOR, "button.set"))
        assert "Key from-console set." in browser.find_element(By.CSS_SELECTOR, ".msg").text
        assert emu.client.get("/memcache-get", params={"key": "from-console"}).json() == "hi there"

        click(browser, browser.find_element(By.CSS_SELECTOR, "button.flush"))
        assert "Flush the cache?" in browser.find_element(By.CSS_SELECTOR, ".confirm-question").text
        click(browser, browser.find_element(By.CSS_SELECTOR, "button.confirm"))
        assert "Cache flushed." in browser.find_element(By.CSS_SELECTOR, ".msg").text
        assert emu.client.get("/memcache-get", params={"key": "greeting"}).json() is None


def test_request_log_filters_and_shows_one_request(paused, browser):
    paused.client.login("reader@example.com")
    paused.client.get("/count?name=logged-one", headers={"X-Probe": XSS})
    paused.client.logout()
    paused.client.get("/count?name=other")
    browser.get(paused.admin_url + "/requests")
    browser.find_element(By.NAME, "path").send_keys("logged-one")
    click(browser, browser.find_element(By.CSS_SELECTOR, "form.filter button"))
    rows = browser.find_elements(By.CSS_SELECTOR, "tr[id^=request-]")
    assert len(rows) == 1 and "reader@example.com" in rows[0].text and "default" in rows[0].text
    click(browser, rows[0].find_element(By.CSS_SELECTOR, "a.request"))
    assert browser.title.startswith("Request ")
    text = browser.find_element(By.TAG_NAME, "main").text
    assert f"X-Probe {XSS}" in text and "Content-Type application/json" in text
    assert not browser.find_elements(By.CSS_SELECTOR, "main script") and no_alert(browser)


def test_gql_box_in_the_datastore_viewer(paused, browser):
    pytest.importorskip("grpc", reason="the GQL box needs the [cloud] extra")
    paused.client.get("/seed")
    browser.get(paused.admin_url + "/datastore")
    browser.find_element(By.CSS_SELECTOR, "form.gql input[name=gql]").send_keys("SELECT * FROM Counter WHERE count >= 7")
    click(browser, browser.find_element(By.CSS_SELECTOR, "form.gql button"))
    assert "1 result(s)" in browser.find_element(By.TAG_NAME, "main").text
    click(browser, browser.find_element(By.LINK_TEXT, "shown"))
    assert browser.title.startswith("Entity Counter")


def test_create_an_entity_from_the_datastore_viewer(paused, browser):
    browser.get(paused.admin_url + "/datastore")
    form = browser.find_element(By.CSS_SELECTOR, "form.new-entity")
    form.find_element(By.NAME, "kind").send_keys("Counter")
    form.find_element(By.NAME, "name").send_keys("made")
    form.find_element(By.NAME, "prop.0").send_keys("count")
    form.find_element(By.XPATH, ".//select[@name='type.0']/option[text()='int']").click()
    form.find_element(By.NAME, "value.0").send_keys("41")
    form.find_element(By.NAME, "prop.1").send_keys("label")
    form.find_element(By.NAME, "value.1").send_keys(XSS)
    click(browser, form.find_element(By.CSS_SELECTOR, "button.create"))
    assert browser.title.startswith("Entity Counter") and "created" in browser.find_element(By.CSS_SELECTOR, ".msg").text
    assert paused.client.get("/count?name=made").json() == {"count": 41, "label": XSS}
    assert no_alert(browser)
