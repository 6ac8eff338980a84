/** @odoo-module **/
// The log viewer: an environment's Odoo log as the platform keeps it
// (ops.environment.logs, the Logs tab, with a download of all of it) or a
// run's log (ops.run.logs, the run form), following new lines without
// reloading, filtered by level and text, up to a point in time. One element
// per line (monospace, levels coloured, wrapping optional).

import { Component, onMounted, onWillUnmount, onWillUpdateProps, useRef, useState } from "@odoo/owl";
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
        // the record reloaded (a run moved: Odoo's bus, live_record): read its new lines now
        onWillUpdateProps(() => {
            this.poll();
        });
        onWillUnmount(() => {
            clearInterval(this.timer);
            clearTimeout(this.typing);
        });
    }

    get envId() {
        return this.props.record.resId;
    }

    get model() {
        return "ops.environment";
    }

    get downloadUrl() {
        return `/ipai_ops/environment/${this.envId}/logs`;
    }

    filters() {
        return { grep: this.state.grep || false, level: this.state.level || false };
    }

    async call(kwargs) {
        try {
            const answer = await this.orm.call(this.model, "logs", [[this.envId]], kwargs);
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
        if (!this.state.follow || this.state.until || (!this.cursor && this.cursor !== 0) || this.state.loading) {
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

/** The same viewer on a run's form: its log lines (ops.run.log), no download. */
export class RunLogs extends EnvLogs {
    get model() {
        return "ops.run";
    }

    get downloadUrl() {
        return false;
    }
}

registry.category("view_widgets").add("ops_run_logs", { component: RunLogs });
