/** @odoo-module **/
// Tours run against real builds by tests/test_tours_e2e.py (the end-to-end
// control plane, a real worker, real containers): they tell the test where
// they are with ipai-ops-signal:NAME on the console (tests/browser.py).

import { browser } from "@web/core/browser/browser";
import { registry } from "@web/core/registry";
import { formLoaded, interactive } from "./tour_helpers";

function signal(name) {
    console.log(`ipai-ops-signal:${name}`);
}

// A development build followed in its run form from the queue to its result, while a real worker builds it:
// the state, the log and the result arrive through Odoo's bus, the page is never reloaded.
registry.category("web_tour.tours").add("ipai_ops_e2e_build_followed_live", {
    steps: () => [
        {
            content: "the run is shown in the queue",
            trigger: ".o_form_view:has(.o_statusbar_status .o_arrow_button_current:contains(Queued))",
            run: () => {
                interactive("run form (real build)");
                window.ipaiOpsNoReload = true; // gone if the page reloads
                signal("queued-seen"); // the test starts the worker now
            },
        },
        {
            content: "running, with the build's own lines in the log",
            trigger: ".o_form_view:has(.o_statusbar_status .o_arrow_button_current:contains(Running)):has(.o_ops_log_line:contains(Building image))",
            timeout: 120000,
        },
        {
            content: "succeeded, the log carries the build to its end, without a reload",
            trigger: ".o_form_view:has(.o_statusbar_status .o_arrow_button_current:contains(Succeeded)):has(.o_ops_log_line:contains(Commit))",
            timeout: 480000,
            run: () => {
                if (!window.ipaiOpsNoReload) {
                    throw new Error("the page was reloaded");
                }
                signal("succeeded-seen");
            },
        },
    ],
});

// Connect from production's form: the button gives a single-use link, opened in a new tab (the test follows
// it like the browser would: opening it here would spend it).
registry.category("web_tour.tours").add("ipai_ops_e2e_connect", {
    steps: () => [
        formLoaded("main", "production form (real)"),
        {
            content: "production is marked in red",
            trigger: ".o_form_view .ribbon:contains(Production)",
            run: () => {
                browser.open = (url) => {
                    signal(`opened:${url}`);
                    document.body.classList.add("o_ops_link_opened");
                    return {}; // a window, as far as the action service is concerned
                };
            },
        },
        {
            content: "Connect",
            trigger: ".o_form_statusbar button[name='action_connect']",
            run: "click",
        },
        {
            content: "the link was opened in a new tab",
            trigger: "body.o_ops_link_opened",
        },
    ],
});
