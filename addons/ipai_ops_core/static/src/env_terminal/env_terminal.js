/** @odoo-module **/
// The web terminal of an environment: xterm.js (vendored, loaded on demand)
// on the same websocket as `ops env shell` (services/shell_session.py), the
// session's single-use token sent as a websocket subprotocol, never in a URL.

import { Component, onMounted, onWillUnmount, useRef, useState } from "@odoo/owl";
import { loadCSS, loadJS } from "@web/core/assets";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { Layout } from "@web/search/layout";

const LIB = "/ipai_ops_core/static/lib/xterm";

export class EnvTerminal extends Component {
    static template = "ipai_ops_core.EnvTerminal";
    static props = { "*": true };
    static components = { Layout };

    setup() {
        this.orm = useService("orm");
        this.screen = useRef("screen");
        const params = this.props.action.params || {};
        this.envId = params.environment_id;
        this.odoo = Boolean(params.odoo);
        // which environment this is, in its stage's colour (production red, as on Odoo.sh)
        this.where = { name: params.environment || "", stage: params.stage || "", project: params.project || "" };
        this.state = useState({ status: "connecting", message: "" });
        this.display = { controlPanel: {} };
        onMounted(() => this.start());
        onWillUnmount(() => this.stop());
    }

    get stageClass() {
        return { production: "text-bg-danger", staging: "text-bg-warning", development: "text-bg-success" }[
            this.where.stage] || "text-bg-secondary";
    }

    async start() {
        await Promise.all([loadCSS(`${LIB}/xterm.css`), loadJS(`${LIB}/xterm.js`), loadJS(`${LIB}/addon-fit.js`)]);
        this.term = new window.Terminal({ cursorBlink: true, fontSize: 13, convertEol: false });
        this.fit = new window.FitAddon.FitAddon();
        this.term.loadAddon(this.fit);
        this.term.open(this.screen.el);
        this.fit.fit();
        const encoder = new TextEncoder();
        this.term.onData((data) => this.ws && this.ws.readyState === 1 && this.ws.send(encoder.encode(data)));
        this.term.onResize(({ rows, cols }) => {
            if (this.ws && this.ws.readyState === 1) {
                this.ws.send(JSON.stringify({ resize: [rows, cols] }));
            }
        });
        this.onWindowResize = () => this.fit.fit();
        window.addEventListener("resize", this.onWindowResize);
        await this.connect();
    }

    /** A new session (a new shell run) in the same terminal: on opening, and on Reconnect after one ended. */
    async connect() {
        this.state.status = "connecting";
        this.state.message = "";
        let session;
        try {
            session = await this.orm.call("ops.environment", "shell_open", [[this.envId]], {
                odoo: this.odoo, tty: true, rows: this.term.rows, cols: this.term.cols,
            });
        } catch (error) {
            this.end((error.data && error.data.message) || error.message || String(error));
            return;
        }
        const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
        const ws = (this.ws = new WebSocket(`${scheme}//${window.location.host}${session.path}`, [
            "ipai-ops-shell", session.token,
        ]));
        ws.binaryType = "arraybuffer";
        ws.onopen = () => {
            this.state.status = "open";
            this.term.focus();
        };
        ws.onmessage = (event) => {
            if (typeof event.data === "string") {
                const end = JSON.parse(event.data);
                this.end(`${end.reason} (exit code ${end.exit})`);
            } else {
                const bytes = new Uint8Array(event.data);
                this.term.write(bytes.subarray(1));
            }
        };
        ws.onclose = () => ws === this.ws && this.state.status !== "closed" && this.end("connection closed");
    }

    reconnect() {
        this.term.write("\r\n");
        this.connect();
    }

    end(message) {
        this.state.status = "closed";
        this.state.message = message;
        if (this.term) {
            this.term.write(`\r\n\x1b[33m[session ended: ${message}]\x1b[0m\r\n`);
        }
    }

    stop() {
        window.removeEventListener("resize", this.onWindowResize);
        if (this.ws) {
            this.ws.close();
        }
        if (this.term) {
            this.term.dispose();
        }
    }
}

registry.category("actions").add("ipai_ops_core.env_terminal", EnvTerminal);
