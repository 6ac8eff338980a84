/** @odoo-module **/
// Tours run against real builds by tests/test_tours_e2e.py (the end-to-end
// control plane, a real worker, real containers): they tell the test where
// they are with ipai-ops-signal:NAME on the console (tests/browser.py).

import { queryFirst } from "@odoo/hoot-dom";
import { browser } from "@web/core/browser/browser";
import { registry } from "@web/core/registry";
import { formLoaded, interactive } from "./tour_helpers";

function signal(name) {
    console.log(`ipai-ops-signal:${name}`);
}

const RUN_STATE = ".o_form_view .o_statusbar_status"; // a div: a step with a run waits for an enabled trigger
const FINISHED = [
    ".o_form_view:has(.o_statusbar_status .o_arrow_button_current:contains(Succeeded))",
    ".o_form_view:has(.o_statusbar_status button:contains(Failed))",
].join(", ");

/** Whether ``selector`` matches within ``ms`` (polled; a tour step may last 60 s at most). */
async function within(selector, ms) {
    const end = Date.now() + ms;
    while (Date.now() < end) {
        if (queryFirst(selector)) {
            return true;
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
    }
    return false;
}

// A build takes minutes and a tour step 60 s at most: steps that each wait up to 50 s for the result.
const waitForTheResult = Array.from({ length: 10 }, (_, index) => ({
    content: `waiting for the build's result (${index + 1}/10)`,
    trigger: RUN_STATE,
    timeout: 60000,
    run: () => within(FINISHED, 50000),
}));

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
            timeout: 60000,
        },
        ...waitForTheResult,
        {
            content: "succeeded, the log carries the build to its end, without a reload",
            trigger: RUN_STATE,
            run: () => {
                if (!queryFirst(FINISHED)) {
                    throw new Error("the build did not finish within 10 minutes");
                }
                if (queryFirst(".o_form_view:has(.o_statusbar_status button:contains(Failed))")) {
                    const error = queryFirst(".o_field_widget[name='error_message']");
                    throw new Error(`the build failed: ${error ? error.textContent : "(no error shown)"}`);
                }
                if (!queryFirst(".o_ops_log_line:contains(Commit)")) {
                    throw new Error("the log does not show the build's lines");
                }
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
