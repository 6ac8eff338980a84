/** @odoo-module **/
// The Ops app's home page: what waits for me, what runs now, what fails, my
// environments (and, with the monitoring addon, open incidents), from
// ops.overview.get_overview. It reads again when the platform says a run
// moved (Odoo's bus, as the forms do) and every 30 s for the rest.

import { Component, onWillStart, onWillUnmount, useState } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { Layout } from "@web/search/layout";

const REFRESH_MS = 30000;

export class OpsOverview extends Component {
    static template = "ipai_ops_core.Overview";
    static props = { "*": true };
    static components = { Layout };

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        const bus = useService("bus_service");
        this.state = useState({ sections: [] });
        this.display = { controlPanel: {} };
        const onChanged = () => {
            clearTimeout(this.pending);
            this.pending = setTimeout(() => this.load(), 500); // one read for a burst of moves
        };
        bus.subscribe("ipai_ops/run_changed", onChanged);
        onWillStart(() => this.load());
        this.timer = setInterval(() => this.load(), REFRESH_MS);
        onWillUnmount(() => {
            bus.unsubscribe("ipai_ops/run_changed", onChanged);
            clearInterval(this.timer);
            clearTimeout(this.pending);
        });
    }

    async load() {
        this.state.sections = await this.orm.call("ops.overview", "get_overview", []);
    }

    open(item) {
        this.action.doAction({ type: "ir.actions.act_window", res_model: item.model, res_id: item.id,
            views: [[false, "form"]] });
    }

    openAll(section) {
        this.action.doAction({ type: "ir.actions.act_window", name: section.title, res_model: section.model,
            domain: section.domain, views: [[false, "list"], [false, "form"]] });
    }
}

registry.category("actions").add("ipai_ops_core.overview", OpsOverview);
