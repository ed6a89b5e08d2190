"""examples/chat: the chat room run as a user runs it (`python examples/chat/chat.py`), talked to by WebSocket
clients (broadcast to everyone, joins and leaves announced) and by its own page in two tabs of headless Chromium."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
CHAT = str(ROOT / "examples" / "chat" / "chat.py")


async def recv(ws: Any) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


def test_messages_go_to_everyone_and_leaving_is_announced(run_script):
    chat = run_script(CHAT)
    ws_url = chat.url.replace("http", "ws", 1) + "/ws"

    async def scenario() -> None:
        async with connect(ws_url + "?name=ada") as ada:
            assert await recv(ada) == {"text": "ada joined"}
            async with connect(ws_url + "?name=bob") as bob, connect(ws_url) as anonymous:
                assert await recv(bob) == {"text": "bob joined"}
                assert await recv(ada) == {"text": "bob joined"}
                for ws in (ada, bob, anonymous):
                    assert await recv(ws) == {"text": "anonymous joined"}
                await bob.send("hi, all")
                for ws in (ada, bob, anonymous):  # the sender gets its own message back, as everyone does
                    assert await recv(ws) == {"name": "bob", "text": "hi, all"}
                await anonymous.close()
                for ws in (ada, bob):
                    assert await recv(ws) == {"text": "anonymous left"}
            assert await recv(ada) == {"text": "bob left"}
            await ada.send("alone now")
            assert await recv(ada) == {"name": "ada", "text": "alone now"}

    asyncio.run(scenario())
    assert chat.stop() == 0
    assert not any("Traceback" in line for line in chat.output), "".join(chat.output)  # leaving is no error


def test_two_tabs_in_a_browser(run_script, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url = run_script(CHAT).url + "/"
    page = httpx.get(url)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    wait = WebDriverWait(browser, 10)

    def messages() -> list[str]:
        return [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#messages li")]

    def join(name: str) -> None:
        browser.get(url)
        browser.find_element(By.ID, "name").send_keys(name)
        browser.find_element(By.CSS_SELECTOR, "#join button").click()
        wait.until(lambda d: d.find_element(By.ID, "text").is_displayed())

    join("ada")
    ada = browser.current_window_handle
    wait.until(lambda d: messages() == ["ada joined"])
    browser.switch_to.new_window("tab")
    join("bob")
    bob = browser.current_window_handle
    box = browser.find_element(By.ID, "text")
    box.send_keys("hello from bob")
    browser.find_element(By.CSS_SELECTOR, "#say button").click()
    wait.until(lambda d: messages() == ["bob joined", "bob: hello from bob"])
    assert box.get_attribute("value") == ""  # the box is emptied for the next message

    browser.switch_to.window(ada)
    wait.until(lambda d: messages() == ["ada joined", "bob joined", "bob: hello from bob"])
    browser.find_element(By.ID, "text").send_keys("<b>hi</b> bob")  # shown as text, never as HTML
    browser.find_element(By.CSS_SELECTOR, "#say button").click()
    expected = ["ada joined", "bob joined", "bob: hello from bob", "ada: <b>hi</b> bob"]
    wait.until(lambda d: messages() == expected)
    assert browser.find_elements(By.CSS_SELECTOR, "#messages b") == []
    artifacts = ROOT / "build" / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(artifacts / "example-chat.png"))

    browser.switch_to.window(bob)
    wait.until(lambda d: messages()[-1] == "ada: <b>hi</b> bob")
    browser.close()  # bob's tab goes: ada sees him leave
    browser.switch_to.window(ada)
    wait.until(lambda d: messages()[-1] == "bob left")
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    assert (artifacts / "example-chat.png").stat().st_size > 5_000
