/** @odoo-module **/
// The web terminal in Chromium (tests/test_ui_tours.py): opened from an
// environment's form on a real container, as a person uses it.

import { registry } from "@web/core/registry";
import { clickTimed, formLoaded, interactive, screenshot } from "./tour_helpers";

// Type into the web terminal as a person does: xterm.js reads its hidden textarea's input events.
function typeInTerminal(text) {
    const area = document.querySelector(".o_ops_env_terminal .xterm-helper-textarea");
    area.dispatchEvent(new InputEvent("input", { data: text, inputType: "insertText", bubbles: true }));
}

// The shell from an environment's form: the page says which environment and stage (production in red),
// a command runs in the environment's container, and a new session opens after `exit`.
function shellTour(branch, stage, colour) {
    return {
        steps: () => [
            formLoaded(branch),
            {
                content: "open the shell",
                trigger: ".o_form_statusbar button[name='action_open_shell']",
                run: clickTimed,
            },
            {
                content: `the page names the environment and its stage, ${stage}, in its colour`,
                trigger: `.o_ops_env_terminal:has(.o_ops_terminal_stage.${colour}:contains(${stage})):has(.o_ops_terminal_env:contains(${branch}))`,
            },
            {
                content: "the breadcrumb leads back to the environment",
                trigger: `.o_breadcrumb:contains(${branch}):contains(Shell)`,
            },
            {
                content: "the session is open, its prompt says the stage",
                trigger: `.o_ops_env_terminal:has(.o_ops_terminal_status:contains(Connected)) .xterm-rows:contains(${stage})`,
                run: () => {
                    interactive(`shell on ${stage}, connected`);
                    typeInTerminal("echo ops-$((6*7))\r");
                },
            },
            {
                content: "the command ran in the container",
                trigger: ".o_ops_env_terminal .xterm-rows:contains(ops-42)",
            },
            screenshot(`shell-${stage}`),
            {
                content: "leave the shell",
                trigger: ".o_ops_env_terminal .xterm-rows:contains(ops-42)",
                run: () => typeInTerminal("exit\r"),
            },
            {
                content: "the session ended, and says so",
                trigger: ".o_ops_terminal_status:contains(Session ended)",
            },
            {
                content: "reconnect",
                trigger: ".o_ops_terminal_reconnect",
                run: "click",
            },
            {
                content: "a new session is open",
                trigger: ".o_ops_env_terminal:not(:has(.o_ops_terminal_reconnect)) .o_ops_terminal_status:contains(Connected)",
                run: () => typeInTerminal("exit\r"),
            },
            {
                content: "and ends as asked",
                trigger: ".o_ops_terminal_reconnect",
            },
        ],
    };
}
registry.category("web_tour.tours").add("ipai_ops_shell_on_development", shellTour("feature/x", "development", "text-bg-success"));
registry.category("web_tour.tours").add("ipai_ops_shell_on_production", shellTour("main", "production", "text-bg-danger"));
