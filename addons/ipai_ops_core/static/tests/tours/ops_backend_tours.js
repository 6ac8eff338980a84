/** @odoo-module **/
// Odoo tours of the backend, run in Chromium by tests/test_ui_tours.py: what
// each role sees on an environment, and the Logs tab read line by line.

import { rpc } from "@web/core/network/rpc";
import { registry } from "@web/core/registry";
import { clickTimed, formLoaded, interactive, screenshot } from "./tour_helpers";

const FORBIDDEN_ON_PRODUCTION = [
    "action_deploy", "action_rebuild", "action_start", "action_stop", "action_destroy", "action_rollback",
    "action_connect", "action_open_shell", "action_open_odoo_shell", "action_set_admin_password",
    "action_backup_now",
];

// A developer on production: history only. No button, tab or menu entry it may not use.
registry.category("web_tour.tours").add("ipai_ops_developer_on_production", {
    steps: () => [
        formLoaded("main"),
        ...FORBIDDEN_ON_PRODUCTION.map((name) => ({
            content: `no ${name} for a developer on production`,
            trigger: `.o_form_view:not(:has(.o_form_statusbar button[name='${name}']))`,
        })),
        {
            content: "no Logs or Monitoring tab (the server would refuse them)",
            trigger: ".o_notebook_headers:not(:has(a:contains(Logs))):not(:has(a:contains(Monitoring)))",
        },
        {
            content: "open the Action menu",
            trigger: ".o_cp_action_menus .dropdown-toggle",
            run: "click",
        },
        {
            content: "Odoo's generic Duplicate and Delete are not offered next to the platform's actions",
            trigger: ".o-dropdown--menu:not(:has(.dropdown-item:contains(Duplicate))):not(:has(.dropdown-item:contains(Delete)))",
        },
    ],
});

// An admin on the same production: the buttons are there.
registry.category("web_tour.tours").add("ipai_ops_admin_on_production", {
    steps: () => [
        formLoaded("main"),
        ...["action_deploy", "action_stop", "action_destroy", "action_connect", "action_open_shell"].map((name) => ({
            content: `${name} is offered to an admin`,
            trigger: `.o_form_statusbar button[name='${name}']`,
        })),
        {
            content: "the Logs tab is there",
            trigger: ".o_notebook_headers a:contains(Logs)",
        },
        {
            content: "production is marked in red",
            trigger: ".o_form_view .ribbon:contains(Production) .text-bg-danger",
        },
        screenshot("environment-production"),
    ],
});

// A developer on development reads its log: one line per line, levels coloured, filtered by text.
registry.category("web_tour.tours").add("ipai_ops_logs_line_by_line", {
    steps: () => [
        formLoaded("feature/x"),
        {
            content: "a developer may rebuild and open a shell on development",
            trigger: ".o_form_statusbar:has(button[name='action_rebuild']):has(button[name='action_open_shell'])",
        },
        {
            content: "open the Logs tab",
            trigger: ".o_notebook_headers a:contains(Logs)",
            run: clickTimed,
        },
        {
            content: "each log line is a line of its own",
            trigger: ".o_ops_log_screen:has(.o_ops_log_line:nth-child(4)):not(:has(.o_ops_log_line:nth-child(5)))",
            run: () => interactive("Logs tab, lines shown"),
        },
        screenshot("environment-logs"),
        {
            content: "the error and its traceback are coloured as errors",
            trigger: ".o_ops_log_line.o_ops_log_error:contains(Traceback (most recent call last))",
        },
        {
            content: "filter by text",
            trigger: ".o_ops_env_logs input[type='search']",
            run: "edit invoice",
        },
        {
            content: "only the matching line is left",
            trigger: ".o_ops_log_screen:has(.o_ops_log_line:contains(Invoice INV/2026/0001 posted)):not(:has(.o_ops_log_line:nth-child(2)))",
        },
    ],
});

// After login an Ops user lands in Ops (its first app), not in Discuss.
registry.category("web_tour.tours").add("ipai_ops_lands_in_ops", {
    steps: () => [
        {
            content: "the Ops app is open",
            trigger: ".o_main_navbar .o_menu_brand:contains(Ops)",
        },
        {
            content: "on its overview: the viewer's environments, and nothing to approve",
            trigger: ".o_ops_overview:has(.o_ops_overview_environments .o_ops_overview_item:contains(feature/x)):has(.o_ops_overview_waiting:contains(Nothing waits for your approval))",
            run: () => interactive("home (/odoo: the Ops overview)"),
        },
    ],
});

// A run followed live: a worker (this Ops Manager, through the same run API
// the workers call) claims it, starts it, writes its log and fails it; the
// open form shows each step without a reload of the page.
function worker(method, args, kwargs = {}) {
    return rpc(`/web/dataset/call_kw/ops.run/${method}`, { model: "ops.run", method, args, kwargs });
}

registry.category("web_tour.tours").add("ipai_ops_run_followed_live", {
    steps: () => [
        {
            content: "the queued run is shown",
            trigger: ".o_form_view:has(.o_statusbar_status .o_arrow_button_current:contains(Queued))",
            run: () => {
                interactive("run form");
                window.ipaiOpsNoReload = true; // gone if the page reloads
            },
        },
        {
            content: "a worker claims and starts it, and writes its first lines",
            trigger: ".o_form_view",
            run: async () => {
                const claimed = await worker("claim_next_run", ["tour-worker", ["build"], ["test-shop"]]);
                await worker("start_workflow_run", [[claimed.id], "tour-worker"]);
                await worker("append_run_log", [[claimed.id], ["Installing 12 modules", "Running tests"]]);
            },
        },
        {
            content: "the form says Running and shows the lines, by itself",
            trigger: ".o_form_view:has(.o_statusbar_status .o_arrow_button_current:contains(Running)):has(.o_ops_log_line:contains(Running tests))",
        },
        {
            content: "the worker fails it",
            trigger: ".o_form_view",
            run: async () => {
                const [run] = await worker("search_read", [[["claimed_by", "=", "tour-worker"]], ["id"]]);
                await worker("complete_workflow_run", [[run.id], 1, "Tests failed (3 tests, 1 failed)", "tour-worker",
                                                       "failed"]);
            },
        },
        {
            content: "the form shows the failure and why, still without a reload",
            trigger: ".o_form_view:has(.o_statusbar_status button:contains(Failed)):has(.o_field_widget[name='error_message']:contains(Tests failed))",
            run: () => {
                if (!window.ipaiOpsNoReload) {
                    throw new Error("the page was reloaded");
                }
            },
        },
        screenshot("run-failed"),
    ],
});

// A production deploy waiting for approval shows on its card, and an admin approves it there.
registry.category("web_tour.tours").add("ipai_ops_approve_from_the_card", {
    steps: () => [
        {
            content: "production's card says what it waits for: the commit, its message and author",
            trigger: ".o_kanban_record:contains(main):contains(waits for approval):contains(Stock: picking rules):contains(Ana Integrator)",
            run: () => interactive("environments (cards)"),
        },
        screenshot("environments"),
        {
            content: "approve from the card",
            trigger: ".o_kanban_record:contains(main) button[name='action_approve_pending']",
            run: "click",
        },
        {
            content: "confirm",
            trigger: ".modal-footer .btn-primary",
            run: "click",
        },
        {
            content: "the card says the run is in line now, and offers no approval any more",
            trigger: ".o_kanban_record:contains(main):not(:contains(waits for approval)):not(:has(button[name='action_approve_pending'])):has(.fa-hourglass-half)",
            run: async () => {
                window.ipaiOpsNoReload = true;
                // someone else cancels it meanwhile (the same API the CLI calls)
                const [run] = await rpc("/web/dataset/call_kw/ops.run/search_read", {
                    model: "ops.run", method: "search_read",
                    args: [[["state", "=", "queued"], ["kind", "=", "deploy"]], ["id"]], kwargs: {},
                });
                await rpc("/web/dataset/call_kw/ops.run/cancel_run", {
                    model: "ops.run", method: "cancel_run", args: [[run.id], "changed my mind"], kwargs: {},
                });
            },
        },
        {
            content: "the card shows it by itself: nothing waits any more",
            trigger: ".o_kanban_record:contains(main):not(:has(.fa-hourglass-half))",
            run: () => {
                if (!window.ipaiOpsNoReload) {
                    throw new Error("the page was reloaded");
                }
            },
        },
    ],
});
