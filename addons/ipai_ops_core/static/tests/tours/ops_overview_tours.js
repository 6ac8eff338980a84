/** @odoo-module **/
// The Ops app's overview in Chromium (tests/test_ui_tours.py).

import { registry } from "@web/core/registry";
import { clickTimed, interactive, screenshot } from "./tour_helpers";

// The overview as a project admin: a deploy to approve, a failing environment and why, a run in line; the
// item to approve opens the run, which says what it would bring.
registry.category("web_tour.tours").add("ipai_ops_overview", {
    steps: () => [
        {
            content: "what fails, and why",
            trigger: ".o_ops_overview_failing .o_ops_overview_item:contains(release/1.0):contains(ImportError)",
            run: () => interactive("overview"),
        },
        {
            content: "what is in line",
            trigger: ".o_ops_overview_running .o_ops_overview_item:contains(feature/x):contains(Queued)",
        },
        screenshot("overview"),
        {
            content: "the production deploy waits for me: open it",
            trigger: ".o_ops_overview_waiting .o_ops_overview_item:contains(Deploy):contains(main)",
            run: clickTimed,
        },
        {
            content: "the run's form, waiting for approval, says what it brings",
            trigger: ".o_form_view:has(.o_statusbar_status .o_arrow_button_current:contains(Waiting)):has(.o_field_widget[name='approval_summary'])",
            run: () => interactive("run to approve (from the overview)"),
        },
        {
            content: "back to the overview by the breadcrumb",
            trigger: ".o_breadcrumb a:contains(Overview)",
            run: "click",
        },
        {
            content: "the overview again",
            trigger: ".o_ops_overview .o_ops_overview_count_waiting:contains(1)",
        },
    ],
});


// The baseline of the pages' times: Odoo's own partner list, loaded and measured the same way in the same run.
registry.category("web_tour.tours").add("ipai_ops_baseline_odoo_page", {
    steps: () => [
        {
            content: "Odoo's own partner list is usable",
            trigger: ".o_action_manager :is(.o_kanban_renderer, .o_list_renderer) .o_data_row, .o_action_manager .o_kanban_record:not(.o_kanban_ghost)",
            run: () => interactive("baseline: Odoo's own partner list"),
        },
    ],
});
