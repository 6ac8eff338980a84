/** @odoo-module **/
// A widget with nothing to show: put in the form of a run or an environment,
// it reloads the record when the platform says one of its runs moved (its
// state, new log lines), through Odoo's bus (ipai_ops/run_changed, sent by
// ops.run._ops_notify_changed) — no reload of the page, no polling. A form
// being edited is left alone.

import { Component, onWillUnmount, xml } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";

export class LiveRecord extends Component {
    static template = xml``;
    static props = { ...standardWidgetProps };

    setup() {
        const bus = useService("bus_service");
        this.pending = null;
        const onChanged = (payload) => this.changed(payload);
        bus.subscribe("ipai_ops/run_changed", onChanged);
        onWillUnmount(() => {
            bus.unsubscribe("ipai_ops/run_changed", onChanged);
            clearTimeout(this.pending);
        });
    }

    changed(payload) {
        const record = this.props.record;
        const key = record.resModel === "ops.run" ? "run_id" : "environment_id";
        if (!record.resId || payload[key] !== record.resId) {
            return;
        }
        // Log lines come in bursts: one reload for a burst.
        clearTimeout(this.pending);
        this.pending = setTimeout(async () => {
            if (!(await record.isDirty())) {
                await record.load();
            }
        }, 300);
    }
}

registry.category("view_widgets").add("ops_live_record", { component: LiveRecord });
