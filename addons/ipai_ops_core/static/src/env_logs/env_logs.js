/** @odoo-module **/
// The Logs tab of an environment: its Odoo log as the platform keeps it
// (ops.environment.logs), following new lines without reloading, filtered
// by level and text, from a point in time, with a download of all of it.
// One element per line (monospace, levels coloured, wrapping optional).

import { Component, onMounted, onWillUnmount, useRef, useState } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";

const POLL_MS = 2000;
const KEEP_LINES = 5000;

export class EnvLogs extends Component {
    static template = "ipai_ops_core.EnvLogs";
    static props = { ...standardWidgetProps };

    setup() {
        this.orm = useService("orm");
        this.screen = useRef("screen");
        this.state = useState({ lines: [], level: "", grep: "", until: "", follow: true, wrap: true, error: "",
            loading: false });
        this.cursor = null;
        this.typing = null;
        onMounted(() => {
            this.reload();
            this.timer = setInterval(() => this.poll(), POLL_MS);
        });
        onWillUnmount(() => {
            clearInterval(this.timer);
            clearTimeout(this.typing);
        });
    }

    get envId() {
        return this.props.record.resId;
    }

    get downloadUrl() {
        return `/ipai_ops/environment/${this.envId}/logs`;
    }

    filters() {
        return { grep: this.state.grep || false, level: this.state.level || false };
    }

    async call(kwargs) {
        try {
            const answer = await this.orm.call("ops.environment", "logs", [[this.envId]], kwargs);
            this.state.error = "";
            return answer;
        } catch (error) {
            this.state.error = (error.data && error.data.message) || error.message || String(error);
            this.state.follow = false;
            return null;
        }
    }

    async reload() {
        if (!this.envId) {
            return;
        }
        this.state.loading = true;
        const until = this.state.until ? this.state.until.replace("T", " ") : false;
        const answer = await this.call({ ...this.filters(), until, limit: 500 });
        this.state.loading = false;
        if (answer) {
            this.state.lines = answer.lines;
            this.cursor = answer.cursor;
            this.scrollToEnd();
        }
    }

    async poll() {
        if (!this.state.follow || this.state.until || !this.cursor || this.state.loading) {
            return;
        }
        const answer = await this.call({ ...this.filters(), after: this.cursor, limit: 1000 });
        if (answer && answer.lines.length) {
            const atEnd = this.isAtEnd();
            this.state.lines = this.state.lines.concat(answer.lines).slice(-KEEP_LINES);
            if (atEnd) {
                this.scrollToEnd();
            }
        }
        if (answer) {
            this.cursor = answer.cursor;
        }
    }

    isAtEnd() {
        const el = this.screen.el;
        return !el || el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    }

    scrollToEnd() {
        requestAnimationFrame(() => {
            const el = this.screen.el;
            if (el) {
                el.scrollTop = el.scrollHeight;
            }
        });
    }

    onLevel(ev) {
        this.state.level = ev.target.value;
        this.reload();
    }

    onGrep(ev) {
        this.state.grep = ev.target.value;
        clearTimeout(this.typing);
        this.typing = setTimeout(() => this.reload(), 300);
    }

    onUntil(ev) {
        this.state.until = ev.target.value;
        this.state.follow = !this.state.until;
        this.reload();
    }

    toggleFollow() {
        this.state.follow = !this.state.follow;
        if (this.state.follow) {
            this.state.until = "";
            this.reload();
        }
    }

    toggleWrap() {
        this.state.wrap = !this.state.wrap;
    }

    lineClass(line) {
        return `o_ops_log_line o_ops_log_${line.level.toLowerCase()}`;
    }
}

registry.category("view_widgets").add("ops_env_logs", { component: EnvLogs });
