"""The synthetic log of bench/env_logs.py: ``LogMaker`` makes Odoo 18 log
lines the way production writes them (werkzeug requests, INFO of
odoo.modules / odoo.addons.*, ~3% WARNING, ~0.5% ERROR each followed by a
traceback), deterministic for a seed, with RARE planted RARE_HITS times over
the whole log and OLD only in its first OLD_SHARE of the lines; the word
lists it draws from are here too.
"""

import random
import time

RARE = "S04242"  # a sale order reference planted RARE_HITS times
RARE_HITS = 10
OLD = "legacy_import"  # planted only in the first OLD_SHARE of the lines
OLD_SHARE = 0.01

MODELS = ["sale.order", "sale.order.line", "res.partner", "account.move", "stock.picking", "product.product",
          "product.template", "crm.lead", "project.task", "hr.employee", "mail.message", "purchase.order",
          "account.move.line", "stock.quant", "res.users"]
METHODS = ["web_search_read", "web_search_read", "web_read", "web_read", "onchange", "web_read_group",
           "name_search", "web_save", "action_confirm", "read", "search_count", "get_views"]
GET_PATHS = ["/odoo", "/odoo/action-sale.action_quotations_with_onchange", "/odoo/sales", "/odoo/contacts",
             "/odoo/accounting", "/odoo/inventory", "/web/webclient/translations/%d?lang=en_US",
             "/web/image/res.partner/%d/avatar_128", "/web/image/res.users/%d/avatar_128",
             "/web/image/product.product/%d/image_128", "/web/assets/%d/web.assets_web.min.js",
             "/web/assets/%d/web.assets_web.min.css", "/web/login", "/web/session/logout", "/websocket",
             "/web/service-worker.js", "/web/manifest.webmanifest", "/odoo/action-%d", "/my/orders/%d"]
POST_PATHS = ["/web/action/load", "/web/webclient/load_menus/%d", "/mail/data", "/mail/thread/data",
              "/mail/thread/messages", "/web/dataset/resequence", "/bus/im_status", "/web/session/get_session_info",
              "/mail/message/post", "/web/dataset/call_button/%s/%s"]
INFOS = [
    "odoo.addons.base.models.ir_cron: Job 'Mail: Email Queue Manager' (%d) starting",
    "odoo.addons.base.models.ir_cron: Job 'Mail: Email Queue Manager' (%d) fully done (#loop 1; done 0; "
    "remaining 0; duration 0.03s)",
    "odoo.addons.base.models.ir_cron: Job 'Sales: Send pending emails' (%d) starting",
    "odoo.addons.mail.models.mail_mail: Mail with ID %d and Message-Id '<random-%d@odoo.example.com>' "
    "successfully sent",
    "odoo.modules.registry: Registry loaded in %d.%03ds",
    "odoo.modules.loading: loading %d modules...",
    "odoo.modules.loading: %d modules loaded in 0.%03ds, 0 queries (+0 extra)",
    "odoo.addons.base.models.res_users: Login successful for db:prod login:user%d@example.com from 10.0.0.%d",
    "odoo.addons.sale.models.sale_order: Order S%05d confirmed by uid %d",
    "odoo.addons.stock.models.stock_picking: Picking WH/OUT/%05d validated (%d moves)",
    "odoo.addons.account.models.account_move: Invoice INV/2026/%05d posted (%d lines)",
    "odoo.service.server: Worker WorkerHTTP (%d) alive, %d requests served",
]
WARNINGS = [
    "odoo.http: Session expired (uid %d, %d s idle)",
    "odoo.addons.base.models.ir_cron: Job 'Mail: Fetchmail Service' (%d) took %d.4s, more than its interval",
    "odoo.models: sale.order.read() with unknown fields: x_studio_field_%d (%d)",
    "odoo.addons.mail.models.mail_mail: Mail delivery failed via SMTP server 'smtp' for mail ID %d (attempt %d)",
    "py.warnings: /opt/odoo/odoo/api.py:%d: DeprecationWarning: Since 18.0, the 'read_group' method (%d)",
    "odoo.service.server: WorkerHTTP (%d) virtual memory limit exceeded (%d MB), reloading",
]
ERRORS = [
    ("odoo.http: Exception during request handling.", "odoo/http.py", "odoo.exceptions.ValidationError: "
     "The quantity of product %d cannot be negative."),
    ("odoo.sql_db: bad query: UPDATE \"sale_order\" SET \"state\" = 'sale' WHERE id IN (%d)",
     "odoo/sql_db.py", "psycopg2.errors.SerializationFailure: could not serialize access due to concurrent update"),
    ("odoo.addons.base.models.ir_cron: Call from cron Sales: Send pending emails for server action #%d failed "
     "in Job #12", "odoo/addons/base/models/ir_cron.py", "smtplib.SMTPServerDisconnected: Connection unexpectedly "
     "closed (%d)"),
    ("odoo.http: Exception during request handling.", "addons/sale/models/sale_order.py",
     "odoo.exceptions.UserError: It is not allowed to confirm an order in state Cancelled (S%05d)."),
]
FRAMES = [
    ("odoo/http.py", 2375, "__call__", "response = request._serve_db()"),
    ("odoo/http.py", 1935, "_serve_db", "return service_model.retrying(self._serve_ir_http, self.env)"),
    ("odoo/service/model.py", 156, "retrying", "result = func()"),
    ("odoo/http.py", 1962, "_serve_ir_http", "response = self.dispatcher.dispatch(rule.endpoint, args)"),
    ("odoo/http.py", 2185, "dispatch", "result = self.request.registry['ir.http']._dispatch(endpoint)"),
    ("addons/web/controllers/dataset.py", 36, "call_kw", "return call_kw(request.env[model], method, args, kwargs)"),
    ("odoo/api.py", 533, "call_kw", "result = getattr(recs, name)(*args, **kwargs)"),
    ("addons/sale/models/sale_order.py", 1090, "action_confirm", "self._action_confirm()"),
    ("addons/sale_stock/models/sale_order.py", 58, "_action_confirm", "self.order_line._action_launch_stock_rule()"),
    ("odoo/models.py", 4871, "write", "real_recs._validate_fields(vals, inverse_fields)"),
    ("odoo/sql_db.py", 354, "execute", "res = self._obj.execute(query, params)"),
]


class LogMaker:
    """Odoo 18 log lines, deterministic: ``lines(n)`` returns the next n
    physical lines or a few more (a traceback is not split), ``total`` at most."""

    def __init__(self, total, seed, days):
        self.rng = random.Random(seed)
        self.total, self.done = total, 0
        self.clock = 1795392000.0  # 2026-11-23 00:00:00 UTC
        self.rate = total / (days * 86400.0)  # records per second (roughly; tracebacks add lines)
        self.pids = [self.rng.randint(1000, 60000) for _ in range(5)]
        self.stamp_cache = (None, None, None)
        step = total // RARE_HITS
        self.rare_at = [i * step + self.rng.randint(0, step - 1) for i in range(RARE_HITS)]
        self.old_until = int(total * OLD_SHARE)

    def _stamps(self):
        second = int(self.clock)
        if self.stamp_cache[0] != second:
            t = time.gmtime(second)
            self.stamp_cache = (second, time.strftime("%Y-%m-%d %H:%M:%S", t), time.strftime("%d/%b/%Y %H:%M:%S", t))
        return self.stamp_cache[1], self.stamp_cache[2]

    def _order(self):
        number = self.rng.randint(1, 99999)
        return number + 1 if "S%05d" % number == RARE else number

    def _request(self, clf):
        rng = self.rng
        if rng.random() < 0.55:
            method, model = rng.choice(METHODS), rng.choice(MODELS)
            path = "/web/dataset/call_kw/%s/%s" % (model, method)
            verb, status = "POST", 200
        elif rng.random() < 0.5:
            path = rng.choice(POST_PATHS)
            if "%s" in path:
                path = path % (rng.choice(MODELS), rng.choice(["action_confirm", "action_cancel", "button_validate"]))
            elif "%d" in path:
                path = path % rng.randint(1, 9999)
            verb, status = "POST", 200
        else:
            path = rng.choice(GET_PATHS)
            if "%d" in path:
                path = path % rng.randint(1, 99999)
            verb = "GET"
            status = rng.choices([200, 304, 303, 404, 101], [70, 15, 6, 3, 2])[0]
        queries = rng.randint(0, 60)
        return 'werkzeug: 127.0.0.1 - - [%s] "%s %s HTTP/1.0" %d - %d %.3f %.3f' % (
            clf, verb, path, status, queries, rng.random() * 0.05, rng.random() * 0.2)

    def _fill(self, template):
        count = template.count("%d") + template.count("%03d") + template.count("%05d")
        return template % tuple(self.rng.randint(1, 99999) if i == 0 else self.rng.randint(1, 999)
                                for i in range(count))

    def record(self):
        """One record: a list of physical lines."""
        rng = self.rng
        self.clock += rng.expovariate(self.rate)
        stamp, clf = self._stamps()
        if rng.random() < 0.002:
            self.pids[rng.randrange(len(self.pids))] = rng.randint(1000, 60000)  # a worker recycled
        head = "%s,%03d %d %%s prod " % (stamp, rng.randint(0, 999), rng.choice(self.pids))
        if self.rare_at and self.done >= self.rare_at[0]:
            self.rare_at.pop(0)
            return [head % "INFO" + rng.choice([
                "odoo.addons.sale.models.sale_order: Order %s confirmed by uid 7" % RARE,
                "odoo.addons.mail.models.mail_thread: Message posted on sale.order %s by partner 42" % RARE,
                "werkzeug: 127.0.0.1 - - [%s] \"GET /my/orders/%s?access_token=abc HTTP/1.0\" 200 - 21 0.012 "
                "0.034" % (clf, RARE)])]
        if self.done < self.old_until and rng.random() < 0.05:
            return [head % "INFO" + "odoo.addons.%s.models.importer: batch %d of 400 imported (%d rows)" % (
                OLD, rng.randint(1, 400), rng.randint(100, 500))]
        draw = rng.random()
        if draw < 0.005:
            text, frame_file, last = ERRORS[rng.randrange(len(ERRORS))]
            lines = [head % "ERROR" + (text % self._order() if "%" in text else text),
                     "Traceback (most recent call last):"]
            for path, line, func, code in rng.sample(FRAMES, rng.randint(4, 9)) + [
                    (frame_file, rng.randint(100, 3000), "_check", "raise")]:
                lines.append('  File "/opt/odoo/%s", line %d, in %s' % (path, line, func))
                lines.append("    " + code)
            lines.append(last % self._order() if "%" in last else last)
            return lines
        if draw < 0.035:
            return [head % "WARNING" + self._fill(rng.choice(WARNINGS))]
        if draw < 0.13:
            template = rng.choice(INFOS)
            text = template % (self._order(), rng.randint(1, 99)) if "S%05d" in template else self._fill(template)
            return [head % "INFO" + text]
        return [head % "INFO" + self._request(clf)]

    def lines(self, count):
        out, end = [], min(self.total, self.done + count)
        while self.done < end:
            record = self.record()[:self.total - self.done]  # the very last traceback may be cut
            out += record
            self.done += len(record)
        return out
