/** @odoo-module **/
// A sparkline of a Json list of numbers (the fleet overview's last hour).

import { Component } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { standardFieldProps } from "@web/views/fields/standard_field_props";

const WIDTH = 120;
const HEIGHT = 24;

export class Sparkline extends Component {
    static template = "ipai_ops_monitoring.Sparkline";
    static props = { ...standardFieldProps };

    get points() {
        const values = (this.props.record.data[this.props.name] || []).filter((v) => typeof v === "number");
        if (values.length < 2) {
            return "";
        }
        const max = Math.max(...values) || 1;
        const step = WIDTH / (values.length - 1);
        return values.map((v, i) => `${(i * step).toFixed(1)},${(HEIGHT - 2 - (v / max) * (HEIGHT - 4)).toFixed(1)}`).join(" ");
    }

    get width() {
        return WIDTH;
    }

    get height() {
        return HEIGHT;
    }
}

registry.category("fields").add("ops_sparkline", { component: Sparkline, supportedTypes: ["json"] });
