"""Odoo's tours in Chromium against the end-to-end control plane: a real
server, real builds, a real worker, the bus over a real websocket. Odoo's
own ChromeBrowser drives the browser, as ``HttpCase.start_tour`` does for
the test process's server; here the server is another process, so the
browser logs in through /web/login and loads the tours with
``?debug=tests`` (Odoo's way to run a tour by hand).

A JavaScript console error fails the tour (Odoo's checker). The tours speak
to the test through the console: ``ipai-ops-signal:NAME`` (``signals``
collects them, ``on_signal`` is called) and ``ipai-ops-interactive`` (a
page's time to interactive, collected in ``interactive``)."""

import json
import logging
import threading
from urllib.parse import urlparse

import requests
from odoo.tests.common import ChromeBrowser, ChromeBrowserException

SIGNAL = "ipai-ops-signal:"
INTERACTIVE = "ipai-ops-interactive:"


class _Case:
    """What Odoo's ChromeBrowser asks of the test case that runs it."""

    _logger = logging.getLogger("e2e.tour")
    browser_size = "1366x768"
    touch_enabled = False
    allow_end_on_form = False

    @staticmethod
    def fetch_proxy(url):
        # the browser reaches the control plane only (127.0.0.1); nothing outside is asked for
        _Case._logger.info("tour: no request outside 127.0.0.1 (%s)", url)
        return {"body": "", "responseCode": 404, "responseHeaders": []}


class Tour:
    """One tour run: ``Tour(server, login).run(url_path, name)``."""

    def __init__(self, server, login, on_signal=None):
        self.server, self.login, self.on_signal = server, login, on_signal
        self.signals, self.interactive = [], {}
        self._lock = threading.Lock()

    def _console(self, browser, original):
        def handle(type, args=None, stackTrace=None, **kw):  # noqa: A002 - Odoo's signature
            text = browser._from_remoteobject(args[0]) if args else ""
            if isinstance(text, str) and text.startswith(SIGNAL):
                with self._lock:
                    self.signals.append(text[len(SIGNAL):])
                if self.on_signal:
                    # not on the browser's event thread: a signal may start long work (a worker)
                    threading.Thread(target=self.on_signal, args=(text[len(SIGNAL):],), daemon=True).start()
                return None
            if isinstance(text, str) and text.startswith(INTERACTIVE):
                page, _sep, milliseconds = text[len(INTERACTIVE):].rpartition(":")
                self.interactive[page] = int(milliseconds)
                return None
            return original(type, args=args, stackTrace=stackTrace, **kw)
        return handle

    def session(self):
        """A session of ``login`` on the server (the e2e users' password is their login)."""
        web = requests.Session()
        page = web.get(self.server.url + "/web/login", timeout=60)
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        logged = web.post(self.server.url + "/web/login", data={
            "login": self.login, "password": self.login, "csrf_token": token, "db": self.server.db}, timeout=60)
        assert logged.ok and "/web/login" not in logged.url, "%s could not log in" % self.login
        return web.cookies["session_id"]

    def run(self, url_path, name, timeout=300):
        browser = ChromeBrowser(_Case(), success_signal="tour succeeded")
        browser._handle_console = self._console(browser, browser._handle_console)
        browser._handlers["Runtime.consoleAPICalled"] = browser._handle_console
        try:
            browser.set_cookie("session_id", self.session(), "/", urlparse(self.server.url).hostname)
            separator = "&" if "?" in url_path else "?"
            browser.navigate_to(self.server.url + url_path + separator + "debug=tests", wait_stop=False)
            assert browser._wait_ready("odoo.isTourReady(%s)" % json.dumps(name), timeout=120), \
                "tour %s never became ready" % name
            options = {"stepDelay": 0, "keepWatchBrowser": False, "debug": False, "startUrl": url_path,
                       "delayToCheckUndeterminisms": 0}
            try:
                browser._wait_code_ok("odoo.startTour(%s, %s)" % (json.dumps(name), json.dumps(options)), timeout)
            except ChromeBrowserException as exc:
                raise AssertionError("tour %s failed: %s" % (name, exc)) from None
        finally:
            browser.stop()
        return self
